// Package problem answers errors over HTTP as RFC 9457 problem details
// (application/problem+json). Classify sorts an error into what a client is
// told — status, code, title, detail, the fields at fault — and whether it is
// internal; Write sends that document; Respond does both and logs internal
// errors. Error codes map to HTTP statuses in one table, here.
//
// Both HTTP faces of DomainFlow answer their errors through it: server/ (the
// REST API, after turning echo's own errors into *domainflow.Error values)
// and realtime/ (the WebSocket handshake). It depends on the root package
// and the standard library only.
package problem

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strconv"

	"github.com/domainflow/domainflow"
)

// MediaType is the media type of a problem document.
const MediaType = "application/problem+json"

// TypeBase prefixes an error code to make a problem's type URI.
const TypeBase = "https://domainflow.dev/problems/"

// InternalDetail is all a client is told about an internal error; the error
// itself only goes to the log.
const InternalDetail = "Internal error."

// RetryAfter is the Retry-After, in seconds, of a 503 that does not set its
// own. A dependency that does not answer (the database, most often) tends to
// come back within seconds, and the request was not at fault: it is worth
// sending again soon, but not in a tight loop.
const RetryAfter = 5

// statuses is the one table mapping error codes to HTTP statuses. A quota
// that the call itself can never fit (one campaign's size) is 422, like
// other input that cannot work; one that frees up when the user deletes,
// stops or closes something is 429, like a rate limit (without Retry-After:
// waiting alone may not help).
var statuses = map[string]int{
	domainflow.EINVALID:       http.StatusBadRequest,
	domainflow.EUNPROCESSABLE: http.StatusUnprocessableEntity,
	domainflow.EUNAUTHORIZED:  http.StatusUnauthorized,
	domainflow.EFORBIDDEN:     http.StatusForbidden,
	domainflow.ENOTFOUND:      http.StatusNotFound,
	domainflow.ECONFLICT:      http.StatusConflict,
	domainflow.ERATELIMITED:   http.StatusTooManyRequests,
	domainflow.EUNAVAILABLE:   http.StatusServiceUnavailable,
	domainflow.EINTERNAL:      http.StatusInternalServerError,

	domainflow.EQUOTARUNNING:    http.StatusTooManyRequests,
	domainflow.EQUOTADOMAINS:    http.StatusUnprocessableEntity,
	domainflow.EQUOTASTORED:     http.StatusTooManyRequests,
	domainflow.EQUOTAWEBSOCKETS: http.StatusTooManyRequests,
	domainflow.EQUOTAPROXIES:    http.StatusTooManyRequests,
}

// codes is statuses the other way round, for the general codes: a status
// chosen by a router or a middleware is never about a quota.
var codes = func() map[int]string {
	m := make(map[int]string, len(statuses))
	for code, status := range statuses {
		if !slices.Contains(domainflow.QuotaCodes, code) {
			m[status] = code
		}
	}
	return m
}()

// Status returns the HTTP status of an error code, and false for a code that
// is not in the table.
func Status(code string) (int, bool) {
	status, ok := statuses[code]
	return status, ok
}

// CodeFor returns the code of an HTTP status chosen by something other than
// an error code (a router, a middleware): the code that maps to it, or the
// closest one — unavailable for 502 and 504, invalid for other 4xx, internal
// for anything else.
func CodeFor(status int) string {
	if code, ok := codes[status]; ok {
		return code
	}
	switch {
	case status == http.StatusBadGateway || status == http.StatusGatewayTimeout:
		return domainflow.EUNAVAILABLE
	case status >= 400 && status < 500:
		return domainflow.EINVALID
	default:
		return domainflow.EINTERNAL
	}
}

// Problem is what a client is told about an error, as Classify found it.
type Problem struct {
	Status int    // HTTP status, 400 to 599
	Code   string // one of the domainflow.E* codes (quota codes included)
	Title  string // http.StatusText(Status)
	Detail string // for people; InternalDetail for internal errors
	Fields []domainflow.FieldError
	// Internal marks a bug or an unexpected failure: log the error, which
	// the client is never shown.
	Internal bool
}

// Type returns the problem's type URI: TypeBase and its code.
func (p Problem) Type() string { return TypeBase + p.Code }

// Classify sorts err into a problem. The first *domainflow.Error in err's
// chain gives the status (from its code, through the table), the code, the
// detail (its Message, which is written for people) and the fields; the
// text of whatever wraps it is not shown. An EINTERNAL error, an error with
// a code that is not in the table and an error that is not a
// *domainflow.Error are internal: answered 500 (with InternalDetail, except
// for an EINTERNAL *domainflow.Error, whose Message is shown). A status set
// by WithStatus replaces the code's. Classify(nil) is the zero Problem.
func Classify(err error) Problem {
	if err == nil {
		return Problem{}
	}
	p := Problem{
		Status:   http.StatusInternalServerError,
		Code:     domainflow.EINTERNAL,
		Detail:   InternalDetail,
		Internal: true,
	}
	var de *domainflow.Error
	if errors.As(err, &de) {
		if status, ok := statuses[de.Code]; ok {
			p = Problem{
				Status:   status,
				Code:     de.Code,
				Detail:   de.Message,
				Fields:   de.Fields,
				Internal: de.Code == domainflow.EINTERNAL,
			}
		}
	}
	var se *statusError
	if errors.As(err, &se) {
		p.Status = se.status
	}
	p.Title = http.StatusText(p.Status)
	return p
}

// WithStatus returns err answered with status (400 to 599; anything else is
// ignored) instead of the status of its code: for the few statuses that have
// no code of their own, such as 405, 413 and 415 (code invalid), or 502.
// Classify takes everything else from err as usual.
func WithStatus(status int, err error) error {
	if err == nil || status < 400 || status > 599 {
		return err
	}
	return &statusError{status: status, err: err}
}

type statusError struct {
	status int
	err    error
}

func (e *statusError) Error() string { return e.err.Error() }
func (e *statusError) Unwrap() error { return e.err }

// document is the JSON of a problem: openapi.yaml's Problem schema.
type document struct {
	Type     string       `json:"type"`
	Title    string       `json:"title"`
	Status   int          `json:"status"`
	Detail   string       `json:"detail,omitempty"`
	Instance string       `json:"instance,omitempty"`
	Code     string       `json:"code"`
	Errors   []fieldError `json:"errors,omitempty"`
}

// fieldError is one entry of errors[]: a pointer or a parameter. An empty
// pointer is meaningful (the whole body), so it is written when there is no
// parameter.
type fieldError struct {
	Pointer   *string `json:"pointer,omitempty"`
	Parameter *string `json:"parameter,omitempty"`
	Detail    string  `json:"detail"`
}

// Write answers the request with p: Content-Type application/problem+json,
// Cache-Control no-store, WWW-Authenticate Bearer for a 401 that has none,
// Retry-After (RetryAfter seconds) for a 503 that has none, and the document, whose instance is the request's path (never its query,
// which may carry a token). A HEAD request gets the headers only. A Problem
// without a status in 400–599 (the zero Problem) is answered as an internal
// error. Write does not log.
func Write(w http.ResponseWriter, r *http.Request, p Problem) error {
	if p.Status < 400 || p.Status > 599 {
		p = Classify(errors.New("problem: no status"))
	}
	if p.Code == "" {
		p.Code = CodeFor(p.Status)
	}
	if p.Title == "" {
		p.Title = http.StatusText(p.Status)
	}
	h := w.Header()
	if p.Status == http.StatusUnauthorized && h.Get("WWW-Authenticate") == "" {
		h.Set("WWW-Authenticate", "Bearer")
	}
	if p.Status == http.StatusServiceUnavailable && h.Get("Retry-After") == "" {
		h.Set("Retry-After", strconv.Itoa(RetryAfter))
	}
	h.Set("Content-Type", MediaType)
	h.Set("Cache-Control", "no-store")
	if r.Method == http.MethodHead {
		w.WriteHeader(p.Status)
		return nil
	}

	doc := document{
		Type:     p.Type(),
		Title:    p.Title,
		Status:   p.Status,
		Detail:   p.Detail,
		Instance: r.URL.EscapedPath(),
		Code:     p.Code,
	}
	for _, f := range p.Fields {
		fe := fieldError{Detail: f.Detail}
		if f.Parameter != "" {
			fe.Parameter = &f.Parameter
		} else {
			fe.Pointer = &f.Pointer
		}
		doc.Errors = append(doc.Errors, fe)
	}
	body, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	w.WriteHeader(p.Status)
	_, err = w.Write(body)
	return err
}

// Respond answers the request with err's problem (see Classify and Write).
// An internal error is logged (see Log), and so is a failure to write.
func Respond(logger *slog.Logger, w http.ResponseWriter, r *http.Request, err error) {
	p := Classify(err)
	if p.Internal {
		Log(logger, w, r, "internal error", err)
	}
	if werr := Write(w, r, p); werr != nil {
		Log(logger, w, r, "writing the error response failed", werr)
	}
}

// Log logs err at level Error with the request's id (its X-Request-Id
// response header, which the server's RequestID middleware sets), method
// and path (never the query, which may carry a token). A nil logger is
// slog.Default().
func Log(logger *slog.Logger, w http.ResponseWriter, r *http.Request, msg string, err error) {
	if logger == nil {
		logger = slog.Default()
	}
	logger.LogAttrs(r.Context(), slog.LevelError, msg,
		slog.String("request_id", w.Header().Get("X-Request-Id")),
		slog.String("method", r.Method),
		slog.String("path", r.URL.EscapedPath()),
		slog.Any("err", err),
	)
}
