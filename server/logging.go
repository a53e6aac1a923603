package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/domainflow/domainflow/bearer"
)

// maxRequestIDLen bounds an X-Request-Id accepted from a client.
const maxRequestIDLen = 128

// requestIDKey keys the request id in a request's context.
type requestIDKey struct{}

// RequestID returns a middleware giving every request an id: the client's
// X-Request-Id when it is 1 to 128 printable ASCII characters, a new random
// one (32 hexadecimal digits) otherwise. The id is set on the response's
// X-Request-Id header and in the request's context (see RequestIDFrom).
func RequestID() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			id := req.Header.Get(echo.HeaderXRequestID)
			if !validRequestID(id) {
				id = newRequestID()
			}
			c.Response().Header().Set(echo.HeaderXRequestID, id)
			c.SetRequest(req.WithContext(context.WithValue(req.Context(), requestIDKey{}, id)))
			return next(c)
		}
	}
}

// RequestIDFrom returns the request id RequestID put in ctx, or "".
func RequestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// validRequestID reports whether id is 1 to 128 printable ASCII characters.
func validRequestID(id string) bool {
	if len(id) == 0 || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x20 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

// newRequestID returns 16 random bytes in hexadecimal.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
	return hex.EncodeToString(b[:])
}

// AccessLog returns a middleware logging one Info line per request once it
// is answered: method, path, query (when there is one, with the values of
// credentials redacted: see redactQuery), route template, final status,
// bytes written, duration in milliseconds, request id and remote address
// (and the client IP when e.IPExtractor is configured). An error from the
// handler is handed to the error handler (c.Error) first, so that the
// status logged is the one sent; the middleware then returns nil. Register
// it after RequestID.
func AccessLog(logger *slog.Logger) echo.MiddlewareFunc {
	if logger == nil {
		logger = slog.Default()
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			if err := next(c); err != nil {
				c.Error(err)
			}
			req, res := c.Request(), c.Response()
			attrs := make([]slog.Attr, 0, 10)
			attrs = append(attrs,
				slog.String("method", req.Method),
				slog.String("path", req.URL.EscapedPath()),
			)
			if req.URL.RawQuery != "" {
				attrs = append(attrs, slog.String("query", redactQuery(req.URL.RawQuery)))
			}
			attrs = append(attrs,
				slog.String("route", c.Path()),
				slog.Int("status", res.Status),
				slog.Int64("bytes", res.Size),
				slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
				slog.String("request_id", requestIDOf(c)),
				slog.String("remote_addr", req.RemoteAddr),
			)
			if c.Echo().IPExtractor != nil {
				attrs = append(attrs, slog.String("client_ip", c.RealIP()))
			}
			logger.LogAttrs(req.Context(), slog.LevelInfo, "request", attrs...)
			return nil
		}
	}
}

// secretParameters are the query parameters that carry credentials: a
// WebSocket handshake's token or ticket.
var secretParameters = []string{bearer.QueryParameter, bearer.TicketParameter}

// maxLoggedQuery bounds the query of an access log line, in bytes.
const maxLoggedQuery = 1024

// redactQuery returns a raw query with the value of every credential
// parameter replaced by REDACTED, however its name is written (escaped, in
// any case), and cut at maxLoggedQuery bytes. Everything else stays as
// sent, to tell requests apart.
func redactQuery(raw string) string {
	parts := strings.Split(raw, "&")
	for i, part := range parts {
		name, _, _ := strings.Cut(part, "=")
		if n, err := url.QueryUnescape(name); err == nil {
			name = n
		}
		for _, secret := range secretParameters {
			if strings.EqualFold(strings.TrimSpace(name), secret) {
				parts[i] = secret + "=REDACTED"
			}
		}
	}
	q := strings.Join(parts, "&")
	if len(q) > maxLoggedQuery {
		q = q[:maxLoggedQuery] + "…"
	}
	return q
}

// requestIDOf returns the request id of the request being answered.
func requestIDOf(c echo.Context) string {
	if id := c.Response().Header().Get(echo.HeaderXRequestID); id != "" {
		return id
	}
	return RequestIDFrom(c.Request().Context())
}
