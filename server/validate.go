package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/labstack/echo/v4"

	"github.com/domainflow/domainflow"
)

// invalidRequestMessage is the detail of every problem the validator answers;
// errors[] says what is wrong.
const invalidRequestMessage = "The request is not valid."

// RequestValidator returns a middleware that checks each request against the
// OpenAPI document: parameters (query, path, header) and the body. A request
// whose route is not in the document passes through untouched, as do
// authentication requirements (another middleware checks them). A request
// that does not match answers a domainflow.Invalid error whose fields name
// each offending parameter (Parameter) or body member (Pointer, a JSON
// Pointer; "" for the body as a whole). The handler gets the body exactly as
// sent: the validator fills in no defaults.
//
// Register it with e.Use, not e.Pre: it finds the operation of a request by
// the route echo matched (c.Path(), e.g. /api/v1/campaigns/:campaignId, the
// template api.RegisterHandlers registers for /api/v1/campaigns/{campaignId})
// in a table built once from the document, so it validates exactly the
// requests echo hands to the generated handlers, on any host. (kin-openapi's
// gorillamux router needs github.com/gorilla/mux, which this module does not
// require, and its legacy router disagrees with echo on trailing slashes and
// matches DELETE /api/v1/campaigns as DELETE /api/v1/campaigns/{campaignId}.)
//
// bodyChecks, by operation id, are the handler's own checks of a body that
// goes beyond the schema; they run when the schema already failed, so that
// one answer names every bad field, not just the schema's.
func RequestValidator(swagger *openapi3.T, bodyChecks map[string]BodyCheck) (echo.MiddlewareFunc, error) {
	if swagger == nil || swagger.Paths == nil {
		return nil, errors.New("server: RequestValidator needs an OpenAPI document")
	}
	if err := swagger.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("server: the OpenAPI document is not valid: %w", err)
	}
	routes := make(map[routeKey]*operation)
	for path, item := range swagger.Paths.Map() {
		template := echoTemplate(path)
		for method, op := range item.Operations() {
			routes[routeKey{method, template}] = &operation{
				route: &routers.Route{
					Spec:      swagger,
					Path:      path,
					PathItem:  item,
					Method:    method,
					Operation: op,
				},
				single: singleValued(item.Parameters, op.Parameters),
			}
		}
	}

	opts := &openapi3filter.Options{
		MultiError:          true,
		AuthenticationFunc:  openapi3filter.NoopAuthenticationFunc,
		SkipSettingDefaults: true,
		SchemaValidationOptions: []openapi3.SchemaValidationOption{
			// kin-openapi knows "uuid" but checks it only with a validator.
			openapi3.WithStringFormatValidators(map[string]openapi3.StringFormatValidator{
				"uuid": openapi3.NewCallbackValidator(checkUUID),
			}),
		},
	}
	// For a body already known not to be JSON: check everything else.
	noBodyOpts := *opts
	noBodyOpts.ExcludeRequestBody = true

	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			op := routes[routeKey{req.Method, c.Path()}]
			if op == nil {
				return next(c) // not in the document
			}
			route := op.route

			var pathParams map[string]string
			if names := c.ParamNames(); len(names) > 0 {
				values := c.ParamValues()
				pathParams = make(map[string]string, len(names))
				for i, name := range names {
					if i < len(values) {
						v := values[i]
						if u, err := url.PathUnescape(v); err == nil {
							v = u
						}
						pathParams[name] = v
					}
				}
			}

			var (
				body          []byte
				err           error
				hasBody       = req.Body != nil && req.Body != http.NoBody
				contentLength = req.ContentLength
				getBody       = req.GetBody
			)
			if hasBody {
				body, err = io.ReadAll(req.Body)
				_ = req.Body.Close()
				if err != nil {
					return bodyReadError(err)
				}
				req.Body = io.NopCloser(bytes.NewReader(body))
			}

			fields := repeated(op.single, c.QueryParams(), req.Header)
			fields = append(fields, paramText(pathParams, c.QueryParams())...)
			o := opts
			if len(body) > 0 && route.Operation.RequestBody != nil && isJSON(req.Header.Get(echo.HeaderContentType)) {
				switch {
				case !utf8.Valid(body):
					fields = append(fields, domainflow.FieldError{Pointer: "", Detail: "request body is not valid UTF-8"})
					o = &noBodyOpts
				case !json.Valid(body):
					fields = append(fields, domainflow.FieldError{Pointer: "", Detail: "request body is not valid JSON: " + jsonError(body)})
					o = &noBodyOpts
				default:
					fields = append(fields, bodyText(body)...)
				}
			}

			verr := openapi3filter.ValidateRequest(req.Context(), &openapi3filter.RequestValidationInput{
				Request:     req,
				PathParams:  pathParams,
				QueryParams: c.QueryParams(),
				Route:       route,
				Options:     o,
			})

			// Hand the handler the body as it came.
			if hasBody {
				req.Body = io.NopCloser(bytes.NewReader(body))
				req.ContentLength = contentLength
				req.GetBody = getBody
			}

			if verr != nil {
				fields = append(fields, validationFields(verr)...)
				if check := bodyChecks[route.Operation.OperationID]; check != nil && len(body) > 0 {
					fields = append(fields, check(body)...)
				}
			}
			if len(fields) > 0 {
				return domainflow.Invalid(invalidRequestMessage, dedupe(fields)...)
			}
			return next(c)
		}
	}, nil
}

// BodyCheck returns the fields of a request body that fail checks beyond the
// schema (nil when it cannot tell, e.g. the body does not decode).
type BodyCheck func(body []byte) []domainflow.FieldError

// nulDetail explains a string that holds U+0000, which no text a user
// means holds and PostgreSQL cannot store.
const nulDetail = "must not contain the NUL character (U+0000)"

// paramText returns a field error for each path or query parameter whose
// name or value holds NUL or is not UTF-8. Every string parameter, of every
// operation, is checked here, so no handler nor store sees one.
func paramText(path map[string]string, query url.Values) []domainflow.FieldError {
	var out []domainflow.FieldError
	check := func(name string, values ...string) {
		for _, v := range append([]string{name}, values...) {
			switch {
			case strings.ContainsRune(v, 0):
				out = append(out, domainflow.FieldError{Parameter: name, Detail: nulDetail})
				return
			case !utf8.ValidString(v):
				out = append(out, domainflow.FieldError{Parameter: strings.ToValidUTF8(name, "\uFFFD"), Detail: "must be UTF-8 text (percent-encoded)"})
				return
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(path)) {
		check(name, path[name])
	}
	for _, name := range slices.Sorted(maps.Keys(query)) {
		check(name, query[name]...)
	}
	return out
}

// bodyText returns a field error for each string of a JSON body (a value or
// a member's name) that holds NUL, by its JSON Pointer. Every string member,
// of every body, is checked here, so no handler nor store sees one.
func bodyText(body []byte) []domainflow.FieldError {
	if !bytes.Contains(body, []byte(`\u0000`)) {
		return nil // the only way a JSON text holds NUL
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var v any
	if d.Decode(&v) != nil {
		return nil
	}
	var out []domainflow.FieldError
	var walk func(pointer string, v any)
	walk = func(pointer string, v any) {
		switch v := v.(type) {
		case string:
			if strings.ContainsRune(v, 0) {
				out = append(out, domainflow.FieldError{Pointer: pointer, Detail: nulDetail})
			}
		case []any:
			for i, item := range v {
				walk(pointer+"/"+strconv.Itoa(i), item)
			}
		case map[string]any:
			for _, k := range slices.Sorted(maps.Keys(v)) {
				p := pointer + jsonPointer([]string{k})
				if strings.ContainsRune(k, 0) {
					out = append(out, domainflow.FieldError{Pointer: p, Detail: "has a name that contains the NUL character (U+0000)"})
					continue
				}
				walk(p, v[k])
			}
		}
	}
	walk("", v)
	return out
}

// routeKey names an operation by method and echo route template.
type routeKey struct{ method, template string }

// operation is what the validator knows of one operation of the document.
type operation struct {
	route  *routers.Route
	single []*openapi3.Parameter // query and header parameters that take one value
}

// singleValued returns the query and header parameters (of the path item
// and the operation) whose schema is not an array. openapi3filter checks
// only the first value of such a parameter given twice; the wrapper
// generated by oapi-codegen refuses it, and the validator refuses it first
// so that the answer names the parameter like every other.
func singleValued(lists ...openapi3.Parameters) []*openapi3.Parameter {
	var out []*openapi3.Parameter
	for _, list := range lists {
		for _, ref := range list {
			p := ref.Value
			if p == nil || (p.In != openapi3.ParameterInQuery && p.In != openapi3.ParameterInHeader) {
				continue
			}
			if p.Schema != nil && p.Schema.Value != nil && p.Schema.Value.Type.Includes(openapi3.TypeArray) {
				continue
			}
			out = append(out, p)
		}
	}
	return out
}

// repeated returns a field error for each single-valued parameter that the
// request gives more than once.
func repeated(single []*openapi3.Parameter, query url.Values, header http.Header) []domainflow.FieldError {
	var out []domainflow.FieldError
	for _, p := range single {
		var n int
		if p.In == openapi3.ParameterInQuery {
			n = len(query[p.Name])
		} else {
			n = len(header.Values(p.Name))
		}
		if n > 1 {
			out = append(out, domainflow.FieldError{Parameter: p.Name, Detail: fmt.Sprintf("must be given once, got %d values", n)})
		}
	}
	return out
}

// pathVariable matches a {name} of an OpenAPI path template.
var pathVariable = regexp.MustCompile(`\{([^{}/]+)\}`)

// echoTemplate turns an OpenAPI path template into echo's: {id} → :id.
func echoTemplate(path string) string {
	return pathVariable.ReplaceAllString(path, ":$1")
}

// bodyReadError passes on the 413 of a body limit, and answers anything else
// that stopped the body from being read as bad input.
func bodyReadError(err error) error {
	var he *echo.HTTPError
	var maxBytes *http.MaxBytesError
	if errors.As(err, &he) || errors.As(err, &maxBytes) {
		return err
	}
	return domainflow.Invalid(invalidRequestMessage, domainflow.FieldError{Pointer: "", Detail: "request body could not be read"})
}

// checkUUID accepts a UUID in its canonical textual form (8-4-4-4-12
// hexadecimal digits, any case).
func checkUUID(s string) error {
	if len(s) != 36 {
		return errNotUUID
	}
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; i {
		case 8, 13, 18, 23:
			if ch != '-' {
				return errNotUUID
			}
		default:
			if !isHex(ch) {
				return errNotUUID
			}
		}
	}
	return nil
}

var errNotUUID = errors.New("not a UUID")

func isHex(ch byte) bool {
	return '0' <= ch && ch <= '9' || 'a' <= ch && ch <= 'f' || 'A' <= ch && ch <= 'F'
}

// isJSON reports whether a Content-Type is JSON.
func isJSON(contentType string) bool {
	mediaType, _, _ := strings.Cut(contentType, ";")
	mediaType = strings.ToLower(strings.TrimSpace(mediaType))
	return mediaType == echo.MIMEApplicationJSON || strings.HasSuffix(mediaType, "+json")
}

// jsonError says why body, which is not valid JSON, is not.
func jsonError(body []byte) string {
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return err.Error()
	}
	return "invalid JSON"
}

// dedupe drops repeated field errors, keeping the order.
func dedupe(fields []domainflow.FieldError) []domainflow.FieldError {
	if len(fields) < 2 {
		return fields
	}
	seen := make(map[domainflow.FieldError]bool, len(fields))
	out := fields[:0]
	for _, f := range fields {
		if !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	return out
}

// validationFields turns what openapi3filter.ValidateRequest returned into
// field errors.
func validationFields(err error) []domainflow.FieldError {
	var out []domainflow.FieldError
	var walk func(error)
	walk = func(err error) {
		var re *openapi3filter.RequestError
		switch e := err.(type) {
		case nil:
		case openapi3.MultiError:
			for _, err := range e {
				walk(err)
			}
		case *openapi3filter.SecurityRequirementsError:
			// Authentication is another middleware's job.
		default:
			if errors.As(err, &re) {
				out = append(out, requestErrorFields(re)...)
			} else {
				out = append(out, domainflow.FieldError{Pointer: "", Detail: "request is not valid"})
			}
		}
	}
	walk(err)
	return out
}

// requestErrorFields explains one *openapi3filter.RequestError.
func requestErrorFields(re *openapi3filter.RequestError) []domainflow.FieldError {
	switch {
	case re.Parameter != nil:
		name := re.Parameter.Name
		details := parameterDetails(re.Parameter, re)
		out := make([]domainflow.FieldError, len(details))
		for i, d := range details {
			out[i] = domainflow.FieldError{Parameter: name, Detail: d}
		}
		return out
	case re.RequestBody != nil:
		return bodyFields(re)
	default:
		detail := re.Reason
		if detail == "" {
			detail = "request is not valid"
		}
		return []domainflow.FieldError{{Pointer: "", Detail: detail}}
	}
}

// parameterDetails explains what is wrong with one parameter.
func parameterDetails(p *openapi3.Parameter, re *openapi3filter.RequestError) []string {
	var pe *openapi3filter.ParseError
	switch {
	case errors.Is(re.Err, openapi3filter.ErrInvalidRequired):
		return []string{"is required"}
	case errors.Is(re.Err, openapi3filter.ErrInvalidEmptyValue):
		return []string{"must not be empty"}
	case errors.As(re.Err, &pe):
		return []string{parseErrorDetail(p, pe)}
	}
	if ses := schemaErrors(re.Err); len(ses) > 0 {
		out := make([]string, len(ses))
		for i, se := range ses {
			out[i] = schemaDetail(se)
		}
		return out
	}
	if re.Reason != "" {
		return []string{re.Reason}
	}
	return []string{"is not valid"}
}

// parseErrorDetail explains a parameter value that could not be decoded, such
// as "abc" for an integer.
func parseErrorDetail(p *openapi3.Parameter, pe *openapi3filter.ParseError) string {
	raw := ""
	for e := pe; e != nil; {
		if e.Value != nil {
			raw = fmt.Sprint(e.Value)
			break
		}
		next, ok := e.Cause.(*openapi3filter.ParseError)
		if !ok {
			break
		}
		e = next
	}
	got := ""
	if raw != "" {
		got = ", got " + strconv.Quote(truncate(raw))
	}

	var schema *openapi3.Schema
	if p.Schema != nil {
		schema = p.Schema.Value
	}
	if errors.Is(pe, strconv.ErrRange) {
		return "is out of range" + got
	}
	if schema != nil && pe.Kind == openapi3filter.KindInvalidFormat && !schema.Type.IsEmpty() {
		return "must be " + typeName(schema) + got
	}
	return "is not valid" + got
}

// bodyFields explains what is wrong with the body.
func bodyFields(re *openapi3filter.RequestError) []domainflow.FieldError {
	const prefixInvalidCT = "header Content-Type has unexpected value"
	var pe *openapi3filter.ParseError
	switch {
	case errors.Is(re.Err, openapi3filter.ErrInvalidRequired):
		return []domainflow.FieldError{{Pointer: "", Detail: "request body is required"}}
	case strings.HasPrefix(re.Reason, prefixInvalidCT):
		types := make([]string, 0, len(re.RequestBody.Content))
		for t := range re.RequestBody.Content {
			types = append(types, t)
		}
		slices.Sort(types)
		got := ""
		if ct := re.Input.Request.Header.Get(echo.HeaderContentType); ct != "" {
			got = ", got " + strconv.Quote(truncate(ct))
		}
		return []domainflow.FieldError{{Parameter: echo.HeaderContentType, Detail: "must be " + strings.Join(types, " or ") + got}}
	case errors.As(re.Err, &pe):
		if pe.Kind == openapi3filter.KindUnsupportedFormat {
			return []domainflow.FieldError{{Parameter: echo.HeaderContentType, Detail: "is not supported"}}
		}
		cause := pe.RootCause()
		msg := "invalid"
		if cause != nil {
			msg = cause.Error()
		} else if pe.Reason != "" {
			msg = pe.Reason
		}
		if errors.Is(cause, io.ErrUnexpectedEOF) || errors.Is(cause, io.EOF) {
			msg = "unexpected end of JSON input"
		}
		return []domainflow.FieldError{{Pointer: "", Detail: "request body is not valid JSON: " + msg}}
	}
	if ses := schemaErrors(re.Err); len(ses) > 0 {
		out := make([]domainflow.FieldError, len(ses))
		for i, se := range ses {
			if name, ok := unknownMember(se); ok {
				// Named by its own pointer, not its object's.
				out[i] = domainflow.FieldError{Pointer: jsonPointer(append(se.JSONPointer(), name)), Detail: unknownMemberDetail(se.Schema)}
				continue
			}
			out[i] = domainflow.FieldError{Pointer: jsonPointer(se.JSONPointer()), Detail: schemaDetail(se)}
		}
		return out
	}
	detail := re.Reason
	if detail == "" {
		detail = "request body is not valid"
	}
	return []domainflow.FieldError{{Pointer: "", Detail: detail}}
}

// unknownMember returns the name of the member an object's schema refuses
// (additionalProperties: false), which kin-openapi gives only in its reason.
func unknownMember(se *openapi3.SchemaError) (string, bool) {
	const prefix, suffix = "property ", " is unsupported"
	r := se.Reason
	if se.SchemaField != "properties" || !strings.HasPrefix(r, prefix) || !strings.HasSuffix(r, suffix) {
		return "", false
	}
	name, err := strconv.Unquote(r[len(prefix) : len(r)-len(suffix)])
	return name, err == nil
}

// unknownMemberDetail says which members the object has.
func unknownMemberDetail(s *openapi3.Schema) string {
	if s == nil || len(s.Properties) == 0 {
		return "is not a known member"
	}
	return "is not a known member (the members are " + strings.Join(slices.Sorted(maps.Keys(s.Properties)), ", ") + ")"
}

// schemaErrors flattens the schema errors in err.
func schemaErrors(err error) []*openapi3.SchemaError {
	var out []*openapi3.SchemaError
	var walk func(error)
	walk = func(err error) {
		switch e := err.(type) {
		case nil:
		case *openapi3.SchemaError:
			out = append(out, e)
		case openapi3.MultiError:
			for _, err := range e {
				walk(err)
			}
		default:
			var se *openapi3.SchemaError
			if errors.As(err, &se) {
				out = append(out, se)
			}
		}
	}
	walk(err)
	return out
}

// jsonPointer makes an RFC 6901 JSON Pointer of path segments.
func jsonPointer(segments []string) string {
	if len(segments) == 0 {
		return ""
	}
	var b strings.Builder
	for _, s := range segments {
		b.WriteByte('/')
		if strings.ContainsAny(s, "~/") {
			s = strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
		}
		b.WriteString(s)
	}
	return b.String()
}

// schemaDetail explains a schema error in words, for people.
func schemaDetail(se *openapi3.SchemaError) string {
	s := se.Schema
	if s == nil {
		return reasonDetail(se)
	}
	got := func() string {
		if s.WriteOnly { // a secret: never echoed
			return ""
		}
		return ", got " + describeValue(se.Value)
	}
	switch se.SchemaField {
	case "type":
		return "must be " + typeName(s) + got()
	case "nullable":
		return "must not be null"
	case "enum":
		values := make([]string, 0, len(s.Enum))
		for i, v := range s.Enum {
			if i == 20 {
				values = append(values, "…")
				break
			}
			values = append(values, fmt.Sprint(v))
		}
		return "must be one of " + strings.Join(values, ", ") + got()
	case "minimum":
		if s.Min != nil {
			return "must be at least " + formatNumber(*s.Min)
		}
	case "maximum":
		if s.Max != nil {
			return "must be at most " + formatNumber(*s.Max)
		}
	case "minLength":
		if s.MinLength == 1 {
			return "must not be empty"
		}
		return fmt.Sprintf("must be at least %d characters long", s.MinLength)
	case "maxLength":
		if s.MaxLength != nil {
			return fmt.Sprintf("must be at most %d characters long", *s.MaxLength)
		}
	case "minItems":
		return "must have at least " + plural(s.MinItems, "item")
	case "maxItems":
		if s.MaxItems != nil {
			return "must have at most " + plural(*s.MaxItems, "item")
		}
	case "uniqueItems":
		return "must not contain duplicate items"
	case "minProperties":
		return "must have at least " + plural(s.MinProps, "member")
	case "maxProperties":
		if s.MaxProps != nil {
			return "must have at most " + plural(*s.MaxProps, "member")
		}
	case "required":
		return "is required"
	case "pattern":
		return "must match the pattern " + s.Pattern + got()
	case "format":
		return formatDetail(s.Format) + got()
	}
	return reasonDetail(se)
}

// reasonDetail falls back on kin-openapi's reason, which never includes the
// value.
func reasonDetail(se *openapi3.SchemaError) string {
	r := strings.TrimPrefix(se.Reason, "number ")
	r = strings.TrimPrefix(r, "value ")
	if r == "" {
		return "does not match the schema"
	}
	return r
}

// formatDetail says what a value of a format must be.
func formatDetail(format string) string {
	switch format {
	case "uuid":
		return "must be a UUID"
	case "date-time":
		return "must be an RFC 3339 date-time"
	case "date":
		return "must be an RFC 3339 date (YYYY-MM-DD)"
	case "int32", "int64":
		return "must fit in " + format
	case "byte":
		return "must be base64"
	default:
		return "must be a valid " + format
	}
}

// typeName names the type(s) a schema allows: "an integer", "a string or null".
func typeName(s *openapi3.Schema) string {
	types := s.Type.Slice()
	names := make([]string, 0, len(types)+1)
	for _, t := range types {
		switch t {
		case openapi3.TypeInteger:
			names = append(names, "an integer")
		case openapi3.TypeNumber:
			names = append(names, "a number")
		case openapi3.TypeString:
			names = append(names, "a string")
		case openapi3.TypeBoolean:
			names = append(names, "a boolean")
		case openapi3.TypeArray:
			names = append(names, "an array")
		case openapi3.TypeObject:
			names = append(names, "an object")
		case openapi3.TypeNull:
			names = append(names, "null")
		}
	}
	if s.Nullable && !slices.Contains(names, "null") {
		names = append(names, "null")
	}
	if len(names) == 0 {
		return "a valid value"
	}
	return strings.Join(names, " or ")
}

// describeValue shows a (decoded JSON) value in a detail, briefly.
func describeValue(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		return strconv.Quote(truncate(v))
	case json.Number:
		return truncate(string(v))
	case float64:
		return formatNumber(v)
	case bool:
		return strconv.FormatBool(v)
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	default:
		return truncate(fmt.Sprint(v))
	}
}

// formatNumber prints a number without exponent when it is integral.
func formatNumber(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// plural says "1 item", "2 items".
func plural(n uint64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.FormatUint(n, 10) + " " + noun + "s"
}

// truncate shortens what a client sent before it is shown back.
func truncate(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	// Cut on a rune boundary.
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
