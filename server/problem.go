package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/gen/api"
)

// problemTypeBase prefixes the code of a problem to make its type URI.
const problemTypeBase = "https://domainflow.dev/problems/"

// mimeProblemJSON is the media type of RFC 9457 problem details.
const mimeProblemJSON = "application/problem+json"

// internalDetail is what a client is told about an internal error; the error
// itself only goes to the log.
const internalDetail = "Internal error."

// codeStatus is the one table mapping error codes to HTTP statuses.
var codeStatus = map[string]int{
	domainflow.EINVALID:       http.StatusBadRequest,
	domainflow.EUNPROCESSABLE: http.StatusUnprocessableEntity,
	domainflow.EUNAUTHORIZED:  http.StatusUnauthorized,
	domainflow.EFORBIDDEN:     http.StatusForbidden,
	domainflow.ENOTFOUND:      http.StatusNotFound,
	domainflow.ECONFLICT:      http.StatusConflict,
	domainflow.ERATELIMITED:   http.StatusTooManyRequests,
	domainflow.EUNAVAILABLE:   http.StatusServiceUnavailable,
	domainflow.EINTERNAL:      http.StatusInternalServerError,
}

// statusCode returns the HTTP status of an error code, and false for a code
// not in the table.
func statusCode(code string) (int, bool) {
	status, ok := codeStatus[code]
	return status, ok
}

// codeForStatus returns the error code closest to an HTTP status that is not
// produced from a code (for example one chosen by echo or a middleware).
func codeForStatus(status int) string {
	for code, s := range codeStatus {
		if s == status {
			return code
		}
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

// writeProblem answers err as an RFC 9457 application/problem+json document:
// the status comes from err's code (see codeStatus), the detail from
// domainflow.ErrorMessage (generic for errors that are not *domainflow.Error)
// and errors[] from the error's fields. It does not log; HTTPErrorHandler
// does for internal errors.
func writeProblem(c echo.Context, err error) error {
	if err == nil {
		return nil
	}
	code := domainflow.ErrorCode(err)
	status, ok := statusCode(code)
	detail := domainflow.ErrorMessage(err)
	if !ok {
		code, status, detail = domainflow.EINTERNAL, http.StatusInternalServerError, internalDetail
	}
	var fields []domainflow.FieldError
	var de *domainflow.Error
	if errors.As(err, &de) {
		fields = de.Fields
	}
	return writeProblemStatus(c, status, code, detail, fields)
}

// writeProblemStatus writes a problem with an explicit status, for the few
// statuses that have no code of their own (405, 413, 415…).
func writeProblemStatus(c echo.Context, status int, code, detail string, fields []domainflow.FieldError) error {
	res := c.Response()
	if status == http.StatusUnauthorized && res.Header().Get(echo.HeaderWWWAuthenticate) == "" {
		res.Header().Set(echo.HeaderWWWAuthenticate, "Bearer")
	}
	if c.Request().Method == http.MethodHead {
		return c.NoContent(status)
	}
	p := api.Problem{
		Type:   problemTypeBase + code,
		Title:  http.StatusText(status),
		Status: status,
		Code:   api.ProblemCode(code),
	}
	if detail != "" {
		p.Detail = &detail
	}
	if path := c.Request().URL.EscapedPath(); path != "" {
		p.Instance = &path
	}
	if len(fields) > 0 {
		list := make([]api.FieldError, len(fields))
		for i, f := range fields {
			list[i].Detail = f.Detail
			if f.Parameter != "" {
				name := f.Parameter
				list[i].Parameter = &name
			} else {
				// An empty pointer is meaningful: the whole body.
				pointer := f.Pointer
				list[i].Pointer = &pointer
			}
		}
		p.Errors = &list
	}
	body, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return c.Blob(status, mimeProblemJSON, body)
}

// HTTPErrorHandler returns the echo error handler of DomainFlow: every error
// becomes a problem document. A *domainflow.Error answers the status of its
// code; an *echo.HTTPError (no route, method not allowed, body too large,
// bad parameters found by echo's binder or by the generated wrapper) keeps
// its status with the closest code; anything else is an internal error,
// logged with the request id, method, path and error and answered 500 with a
// generic detail. It writes nothing when the response is already committed
// (an internal error is then still logged).
func HTTPErrorHandler(logger *slog.Logger) echo.HTTPErrorHandler {
	if logger == nil {
		logger = slog.Default()
	}
	logInternal := func(c echo.Context, msg string, err error) {
		req := c.Request()
		logger.LogAttrs(req.Context(), slog.LevelError, msg,
			slog.String("request_id", requestIDOf(c)),
			slog.String("method", req.Method),
			slog.String("path", req.URL.EscapedPath()),
			slog.String("error", err.Error()),
		)
	}
	return func(err error, c echo.Context) {
		if err == nil {
			return
		}
		if c.Response().Committed {
			if isInternal(err) {
				logInternal(c, "error after the response was sent", err)
			}
			return
		}

		var (
			de       *domainflow.Error
			he       *echo.HTTPError
			maxBytes *http.MaxBytesError
			werr     error
		)
		switch {
		case errors.As(err, &de):
			if _, ok := statusCode(de.Code); !ok || de.Code == domainflow.EINTERNAL {
				logInternal(c, "internal error", err)
			}
			werr = writeProblem(c, err)
		case errors.As(err, &he):
			status, code, detail, fields := fromHTTPError(c, he)
			if status >= 500 {
				logInternal(c, "internal error", err)
			}
			werr = writeProblemStatus(c, status, code, detail, fields)
		case errors.As(err, &maxBytes):
			werr = writeProblemStatus(c, http.StatusRequestEntityTooLarge, domainflow.EINVALID, detailTooLarge, nil)
		default:
			logInternal(c, "internal error", err)
			werr = writeProblemStatus(c, http.StatusInternalServerError, domainflow.EINTERNAL, internalDetail, nil)
		}
		if werr != nil {
			logInternal(c, "writing the error response failed", werr)
		}
	}
}

// isInternal reports whether err would be answered 5xx.
func isInternal(err error) bool {
	var de *domainflow.Error
	if errors.As(err, &de) {
		status, ok := statusCode(de.Code)
		return !ok || status >= 500
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		return he.Code >= 500
	}
	var maxBytes *http.MaxBytesError
	return !errors.As(err, &maxBytes)
}

// requestIDOf returns the request id of the request being answered.
func requestIDOf(c echo.Context) string {
	if id := c.Response().Header().Get(echo.HeaderXRequestID); id != "" {
		return id
	}
	return RequestIDFrom(c.Request().Context())
}

const (
	detailNoRoute  = "No such route."
	detailTooLarge = "Request body too large"
)

// Messages of the 400s of the wrapper generated by oapi-codegen.
var (
	reInvalidParam  = regexp.MustCompile(`^Invalid format for parameter ([^:\s]+): (.*)$`)
	reRequiredParam = regexp.MustCompile(`^(?:Query argument|Header parameter|Path parameter|Cookie parameter) (\S+) is required, but not found$`)
	reOneValue      = regexp.MustCompile(`^Expected one value for (\S+), got (\d+)$`)
)

// fromHTTPError turns an *echo.HTTPError into the parts of a problem.
func fromHTTPError(c echo.Context, he *echo.HTTPError) (status int, code, detail string, fields []domainflow.FieldError) {
	status = he.Code
	if status < 400 || status > 599 {
		status = http.StatusInternalServerError
	}
	msg := httpErrorMessage(he)
	defaultMsg := msg == "" || msg == http.StatusText(status)

	switch status {
	case http.StatusNotFound:
		if defaultMsg {
			msg = detailNoRoute
		}
		return status, domainflow.ENOTFOUND, msg, nil
	case http.StatusMethodNotAllowed:
		// echo has set the Allow header already; it is kept.
		return status, domainflow.EINVALID, fmt.Sprintf("Method %s is not allowed on this route.", c.Request().Method), nil
	case http.StatusRequestEntityTooLarge:
		return status, domainflow.EINVALID, detailTooLarge, nil
	case http.StatusUnsupportedMediaType:
		return status, domainflow.EINVALID, "Unsupported media type; send application/json.", []domainflow.FieldError{
			{Parameter: echo.HeaderContentType, Detail: "must be application/json"},
		}
	case http.StatusBadRequest:
		detail, fields := badRequest(he, msg)
		return status, domainflow.EINVALID, detail, fields
	}

	code = codeForStatus(status)
	switch {
	case status >= 500:
		if status == http.StatusServiceUnavailable || code == domainflow.EUNAVAILABLE {
			return status, code, "The service is unavailable.", nil
		}
		return status, code, internalDetail, nil
	case defaultMsg:
		return status, code, http.StatusText(status) + ".", nil
	default:
		return status, code, msg, nil
	}
}

// httpErrorMessage returns the message of an *echo.HTTPError as text.
func httpErrorMessage(he *echo.HTTPError) string {
	switch m := he.Message.(type) {
	case nil:
		return ""
	case string:
		return m
	case error:
		return m.Error()
	case fmt.Stringer:
		return m.String()
	default:
		return fmt.Sprint(m)
	}
}

// badRequest explains a 400 made by echo (its binder) or by the generated
// wrapper, naming the parameter or body field at fault when it can.
func badRequest(he *echo.HTTPError, msg string) (string, []domainflow.FieldError) {
	const detail = "The request is not valid."
	if m := reInvalidParam.FindStringSubmatch(msg); m != nil {
		return detail, []domainflow.FieldError{{Parameter: m[1], Detail: "has an invalid value: " + m[2]}}
	}
	if m := reRequiredParam.FindStringSubmatch(msg); m != nil {
		return detail, []domainflow.FieldError{{Parameter: m[1], Detail: "is required"}}
	}
	if m := reOneValue.FindStringSubmatch(msg); m != nil {
		return detail, []domainflow.FieldError{{Parameter: m[1], Detail: "must be given once, got " + m[2] + " values"}}
	}

	var (
		typeErr   *json.UnmarshalTypeError
		syntaxErr *json.SyntaxError
	)
	switch internal := he.Internal; {
	case errors.As(internal, &typeErr):
		pointer := ""
		if typeErr.Field != "" {
			pointer = "/" + strings.Join(strings.Split(typeErr.Field, "."), "/")
		}
		d := "has the wrong type"
		if typeErr.Type != nil {
			d = "must be " + goTypeName(typeErr.Type.Kind().String())
		}
		if typeErr.Value != "" {
			d += ", got " + typeErr.Value
		}
		return detail, []domainflow.FieldError{{Pointer: pointer, Detail: d}}
	case errors.As(internal, &syntaxErr):
		return detail, []domainflow.FieldError{{Pointer: "", Detail: "request body is not valid JSON: " + syntaxErr.Error()}}
	case errors.Is(internal, io.ErrUnexpectedEOF):
		return detail, []domainflow.FieldError{{Pointer: "", Detail: "request body is not valid JSON: unexpected end of JSON input"}}
	}
	if msg == "" || msg == http.StatusText(http.StatusBadRequest) {
		return detail, nil
	}
	return msg, nil
}

// goTypeName names a Go kind the way an API client thinks of it.
func goTypeName(kind string) string {
	switch {
	case strings.HasPrefix(kind, "int"), strings.HasPrefix(kind, "uint"):
		return "an integer"
	case strings.HasPrefix(kind, "float"):
		return "a number"
	case kind == "string":
		return "a string"
	case kind == "bool":
		return "a boolean"
	case kind == "slice", kind == "array":
		return "an array"
	case kind == "struct", kind == "map":
		return "an object"
	default:
		return "of type " + kind
	}
}
