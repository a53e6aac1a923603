package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/problem"
)

// HTTPErrorHandler returns the echo error handler of DomainFlow: every error
// becomes a problem document (see package problem, which classifies it,
// writes it and logs internal errors with the request id). The errors echo
// and net/http make — no route, method not allowed, a body over the limit,
// bad parameters or bodies found by echo's binder or by the generated
// wrapper — are first turned into *domainflow.Error values by fromEcho. It
// writes nothing when the response is already committed (an internal error
// is then still logged).
func HTTPErrorHandler(logger *slog.Logger) echo.HTTPErrorHandler {
	if logger == nil {
		logger = slog.Default()
	}
	return func(err error, c echo.Context) {
		if err == nil {
			return
		}
		err = fromEcho(c, err)
		if c.Response().Committed {
			if problem.Classify(err).Internal {
				problem.Log(logger, c.Response(), c.Request(), "error after the response was sent", err)
			}
			return
		}
		problem.Respond(logger, c.Response(), c.Request(), err)
	}
}

const (
	detailNoRoute  = "No such route."
	detailTooLarge = "Request body too large"
)

// fromEcho turns the errors of echo (*echo.HTTPError) and net/http (a body
// over http.MaxBytesReader's limit) into *domainflow.Error values, with
// problem.WithStatus for statuses that no code maps to. An *echo.HTTPError
// keeps its status with the closest code; a 5xx other than an unavailable
// one stays internal, so it is logged and never shown. A *domainflow.Error
// anywhere in err's chain, and any other error, is returned as it is.
func fromEcho(c echo.Context, err error) error {
	var (
		de       *domainflow.Error
		he       *echo.HTTPError
		maxBytes *http.MaxBytesError
	)
	switch {
	case errors.As(err, &de):
		return err
	case errors.As(err, &he):
	case errors.As(err, &maxBytes):
		return problem.WithStatus(http.StatusRequestEntityTooLarge, domainflow.Invalid(detailTooLarge))
	default:
		return err
	}

	status := he.Code
	if status < 400 || status > 599 {
		status = http.StatusInternalServerError
	}
	msg := httpErrorMessage(he)
	defaultMsg := msg == "" || msg == http.StatusText(status)
	withStatus := func(code, detail string, fields ...domainflow.FieldError) error {
		return problem.WithStatus(status, &domainflow.Error{Code: code, Message: detail, Fields: fields})
	}

	switch status {
	case http.StatusNotFound:
		if defaultMsg {
			msg = detailNoRoute
		}
		return withStatus(domainflow.ENOTFOUND, msg)
	case http.StatusMethodNotAllowed:
		// echo has set the Allow header already; it is kept.
		return withStatus(domainflow.EINVALID, fmt.Sprintf("Method %s is not allowed on this route.", c.Request().Method))
	case http.StatusRequestEntityTooLarge:
		return withStatus(domainflow.EINVALID, detailTooLarge)
	case http.StatusUnsupportedMediaType:
		return withStatus(domainflow.EINVALID, "Unsupported media type; send application/json.",
			domainflow.FieldError{Parameter: echo.HeaderContentType, Detail: "must be application/json"})
	case http.StatusBadRequest:
		detail, fields := badRequest(he, msg)
		return withStatus(domainflow.EINVALID, detail, fields...)
	}

	code := problem.CodeFor(status)
	switch {
	case code == domainflow.EUNAVAILABLE:
		return withStatus(code, "The service is unavailable.")
	case status >= 500:
		return problem.WithStatus(status, err) // internal
	case defaultMsg:
		return withStatus(code, http.StatusText(status)+".")
	default:
		return withStatus(code, msg)
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

// badRequest explains a 400 made by echo's binder — the generated strict
// handler binds bodies with it, after the validator, so a body the schema
// allows but Go cannot decode (10.0 for an integer) ends here — naming the
// body member at fault from the decoding error. Other 400s (the generated
// wrapper's parameter binding, which the validator's checks come before)
// keep their message as the detail.
func badRequest(he *echo.HTTPError, msg string) (string, []domainflow.FieldError) {
	const detail = "The request is not valid."
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
