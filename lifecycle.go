package domainflow

import "slices"

// Action is a lifecycle call on a campaign.
type Action string

const (
	ActionStart  Action = "start"
	ActionPause  Action = "pause"
	ActionResume Action = "resume"
	ActionCancel Action = "cancel"
)

// transitions is the campaign state machine of the lifecycle calls: for each
// action, the statuses it is allowed from and the status it leads to. The
// engine itself moves queued → running → completed | failed.
var transitions = map[Action]struct {
	from []CampaignStatus
	to   CampaignStatus
}{
	ActionStart:  {[]CampaignStatus{StatusDraft}, StatusQueued},
	ActionPause:  {[]CampaignStatus{StatusQueued, StatusRunning}, StatusPaused},
	ActionResume: {[]CampaignStatus{StatusPaused}, StatusQueued},
	ActionCancel: {[]CampaignStatus{StatusDraft, StatusQueued, StatusRunning, StatusPaused}, StatusCancelled},
}

// Transition returns the statuses an action may be taken from and the status
// it leads to.
func Transition(a Action) (from []CampaignStatus, to CampaignStatus) {
	t := transitions[a]
	return t.from, t.to
}

// IllegalTransition is the error of an action the campaign's status does not
// allow.
func IllegalTransition(a Action, status CampaignStatus) *Error {
	return Errorf(ECONFLICT, "Cannot %s a campaign that is %s.", a, status)
}

// WritableStatuses are those in which the engine may still write a
// campaign's domains: not once a pause, cancel or end was committed. A draft
// is writable so that tools can seed one; the engine writes only while
// queued or running.
var WritableStatuses = []CampaignStatus{StatusDraft, StatusQueued, StatusRunning}

// Writable reports whether s is one of WritableStatuses.
func (s CampaignStatus) Writable() bool { return slices.Contains(WritableStatuses, s) }

// ErrStopped is the store's answer to a write of domain data that lands after
// the campaign was paused, cancelled or ended: nothing was written, and the
// engine's step ends quietly (the rows stay pending for a resume).
var ErrStopped = Errorf(ECONFLICT, "The campaign was stopped: its results are no longer written.")
