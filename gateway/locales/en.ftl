# English messages of the web UI. Every message here has a Khmer twin in km.ftl (a test checks).
app-name = Child Wellbeing Registry
skip-to-content = Skip to content
nav-label = Main
nav-search = Search
nav-dashboard = Dashboard
nav-review = Review queue
nav-admin = Administration
language-label = Language
logout = Log out

role-national_official = National official
role-district_official = District official
role-agency = Agency staff
role-data_steward = Data steward
role-admin = Administrator
role-auditor = Auditor

login-title = Log in
login-username = Username
login-password = Password
login-submit = Log in
login-wrong = Wrong username or password.
login-locked = { $count ->
    [one] Too many failed attempts: this account is locked. Try again in { $shown } minute.
   *[other] Too many failed attempts: this account is locked. Try again in { $shown } minutes.
}
login-expired = Your session ended (30 minutes without activity, or 12 hours after login). Please log in again.
login-logged-out = You are logged out.

error-title = Something went wrong
error-not-found = There is no such page or child, or you are not allowed to see it.
error-forbidden = Your role does not allow this.
error-csrf = This form has expired. Reload the page and try again.
error-too-many = Too many requests. Wait a minute and try again.
error-stale = This child changed since you opened the page (another decision, a new record). Go back, reload and check before trying again.
error-unavailable = The registry is not available right now. Try again shortly.
error-home = Back to the start

search-title = Search children
search-label = Name, child ID, identifier or birth date
search-placeholder = e.g. Aguti Halima 2016
search-help = Press / to search; ↑ ↓ or j k to move; Enter to open. Paste a child ID anywhere to open that child.
search-filters = Filters
search-submit = Search
search-matched = Matched
filter-any = Any
filter-born-from = Born from
filter-born-to = Born to
results = Results
results-count = { $count ->
    [one] { $shown } child
   *[other] { $shown } children
}
next-page = Next page

matched-child_id = child ID
matched-identifier = identifier
matched-name = name
matched-name_fuzzy = similar name
matched-name_phonetic = name sounding alike
matched-parent_name = parent's name
matched-location = place
matched-birth_date = birth date

field-name = Name
field-given-name = Given name
field-family-name = Family name
field-other-names = Other names
field-sex = Sex
field-birth = Date of birth
field-district = District
field-subcounty = Subcounty / commune
field-village = Village
field-place = Place
field-mother = Mother
field-father = Father
field-identifiers = Identifiers
field-agencies = Agencies
field-agency = Agency
field-record = Record
field-version = Version
field-received = Received
field-first-received = first
field-reason = Reason
field-month = Month

sex-f = Female
sex-m = Male
sex-x = Other
value-unknown = Unknown
name-unknown = (no name recorded)
birth-estimated = about { $date } (estimated)

month-1 = Jan
month-2 = Feb
month-3 = Mar
month-4 = Apr
month-5 = May
month-6 = Jun
month-7 = Jul
month-8 = Aug
month-9 = Sep
month-10 = Oct
month-11 = Nov
month-12 = Dec

child-summary = Summary
child-timeline = Timeline
child-records = Source records
child-print = Print
child-no-events = No events reported.
child-withheld = { $count ->
    [one] { $shown } confidential event is withheld.
   *[other] { $shown } confidential events are withheld.
}
child-purpose = State why you need to see confidential content (your reading is recorded)
child-purpose-submit = Show confidential content
child-purpose-stated = Confidential content shown for: { $purpose }
child-merged-from = Child ID { $old } was merged into this child.
child-merged-done = The children were merged.
child-unlinked-done = The record was unlinked; this is the child it belongs to now.
child-unlink = Unlink
child-merge = Merge into another child
child-merge-into = Surviving child ID
child-merge-submit = Merge
event-withheld = Confidential (withheld)
event-provenance = Record { $record }, version { $version }, received { $received }

review-title = Review queue
review-status = Status
review-sort = Order
review-stats = { $open } open · { $defers } deferred decisions
review-age = median age { $median }, oldest { $oldest }
review-empty = Nothing to review here.
review-done-link = Linked. Here is the next candidate.
review-done-not-a-match = Recorded as not a match. Here is the next candidate.
review-done-defer = Deferred. Here is the next candidate.
review-done-release = Released: another steward can take it up.
review-claimed-by = { $steward } is deciding it until { $until }
review-choose-decision = Choose link, not a match or defer.
review-reason-required = Give a reason for the decision.
age-hours = { $count ->
    [one] { $shown } hour
   *[other] { $shown } hours
}
status-open = Open
status-deferred = Deferred
status-linked = Linked
status-not_a_match = Not a match
status-superseded = Superseded
sort-oldest = Oldest first
sort-probability = Most probable first

candidate-title = Match candidate { $id }
candidate-summary = Probability { $probability } · model version { $model } · { $status }
candidate-compare = The new record and the existing child, side by side
candidate-field = Field
candidate-record = New record: { $name } ({ $source } { $record })
candidate-child = Existing child: { $name }
candidate-differs = differs
candidate-claimed-other = { $steward } is deciding this candidate until { $until }. You can decide it once they release it or their claim runs out.
candidate-claimed-mine = You hold this candidate until { $until }: other stewards cannot decide it meanwhile.
candidate-release = Release it for another steward
waterfall-title = Why: match weight by field
waterfall-prior = Prior
waterfall-total = Match weight
waterfall-result = Final probability { $probability }
waterfall-cannot-link = never linked automatically
waterfall-missing = No explanation was stored for this candidate.
decide-title = Decision
decide-choice = Decision
decide-submit = Record decision
decide-help = Keys: l link, n not a match, d defer; type the reason, then Enter.
decide-history = Decision history
decide-none = No decisions yet.
decision-link = Same child (link)
decision-not_a_match = Not a match
decision-defer = Defer

dashboard-title = Dashboard
dashboard-children = { $count } children in the registry
dashboard-by-district = Children by district
dashboard-by-agency = Children by agency
dashboard-by-month = Children registered by month
dashboard-table = Show the table
dashboard-count = Children
dashboard-median-age = Median age
dashboard-counted-at = counted at { $time }
dashboard-others = { $count ->
    [one] { $shown } other
   *[other] { $shown } others
}
dashboard-earlier-months = { $count ->
    [one] { $shown } earlier month
   *[other] { $shown } earlier months
}
dashboard-oldest = Oldest

admin-title = Administration
admin-people = People
admin-clients = API clients
admin-role = Role
admin-scope = Agency or district
admin-disable = Disable
admin-disabled = Disabled
admin-revoke = Revoke
admin-revoked = Revoked or expired
admin-new-person = New person
admin-new-client = New API client
admin-create = Create
admin-key-prefix = Key begins
admin-expires = Expires
admin-valid-days = Valid for (days)
admin-new-key = New API key (copy it now: it is not shown again)
admin-key-once = The client was created. Its key is shown once, below.
admin-done = Done.

# The matching model's comparisons, named as the waterfall shows them.
comparison-given_name = Given name
comparison-family_name = Family name
comparison-date_of_birth = Date of birth
comparison-sex = Sex
comparison-source_system = Agency system
comparison-location = Place
comparison-mother_name = Mother
comparison-father_name = Father
comparison-identifiers = Identifiers
