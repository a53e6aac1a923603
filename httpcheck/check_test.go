package httpcheck_test

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/httpcheck"
)

func TestCheckPage(t *testing.T) {
	longTitle := strings.Repeat("é", 400)
	tests := []struct {
		name        string
		handler     http.HandlerFunc
		mode        string
		keywords    []string
		wantCode    int
		wantTitle   string
		wantFound   []string
		wantLength  int64 // -1: length of the body written
		wantWritten string
	}{
		{
			name:      "keywords found case-insensitively",
			handler:   page(html("Widgets Inc", "Best WIDGETS in town. See our Pricing.")),
			keywords:  []string{"widgets", "pricing", "gadgets"},
			wantCode:  200,
			wantTitle: "Widgets Inc",
			wantFound: []string{"widgets", "pricing"},
		},
		{
			name:      "no keyword on the page",
			handler:   page(html("Parked", "This domain is for sale.")),
			keywords:  []string{"widgets", "pricing"},
			wantCode:  200,
			wantTitle: "Parked",
		},
		{
			name:      "found keywords in config order, deduplicated",
			handler:   page(html("Shop", "pricing for widgets")),
			keywords:  []string{"Pricing", "widgets", "PRICING", "nothing", "Widgets"},
			wantCode:  200,
			wantTitle: "Shop",
			wantFound: []string{"Pricing", "widgets"},
		},
		{
			name:      "regex keywords are case-insensitive RE2",
			handler:   page(html("Shop", "Our GADGETS: price from $20, shipping free")),
			mode:      "regex",
			keywords:  []string{`gad[a-z]+s`, `price\s+from\s+\$\d+`, `^shipping`, `ship(ping)?\s+free`},
			wantCode:  200,
			wantTitle: "Shop",
			wantFound: []string{`gad[a-z]+s`, `price\s+from\s+\$\d+`, `ship(ping)?\s+free`},
		},
		{
			name:      "title with entities and newlines",
			handler:   page("<html><head>\n<title>\n   Shop &amp; Co\n\t&lt;Best&gt; &#8212; &eacute;t&eacute;&nbsp;  \n</title><title>second</title>"),
			wantCode:  200,
			wantTitle: "Shop & Co <Best> — été",
		},
		{
			name:      "title cut to 300 characters",
			handler:   page(html(longTitle, "")),
			wantCode:  200,
			wantTitle: strings.Repeat("é", 300),
		},
		{
			name:     "no title",
			handler:  page("<html><body>just text</body></html>"),
			wantCode: 200,
		},
		{
			name:      "inline SVG titles are not the page title",
			handler:   page(`<html><body><svg viewBox="0 0 1 1"><title>icon</title></svg><title>Real</title></body></html>`),
			wantCode:  200,
			wantTitle: "Real",
		},
		{
			name: "any status code is a response",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusNotFound)
				io.WriteString(w, html("Not Found", "no widgets here"))
			},
			keywords:  []string{"widgets"},
			wantCode:  404,
			wantTitle: "Not Found",
			wantFound: []string{"widgets"},
		},
		{
			name: "Latin-1 page declared in Content-Type",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html; charset=iso-8859-1")
				w.Write([]byte("<title>Caf\xe9 Cr\xe8me</title><p>le caf\xe9"))
			},
			keywords:  []string{"CAFÉ", "crème"},
			wantCode:  200,
			wantTitle: "Café Crème",
			wantFound: []string{"CAFÉ", "crème"},
		},
		{
			name: "windows-1252 page declared in a meta tag",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				w.Write([]byte("<meta charset=\"windows-1252\"><title>Na\xefve</title>"))
			},
			wantCode:  200,
			wantTitle: "Naïve",
		},
		{
			name: "gzip body is decoded",
			handler: func(w http.ResponseWriter, r *http.Request) {
				if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
					http.Error(w, "wants gzip", 400)
					return
				}
				w.Header().Set("Content-Encoding", "gzip")
				zw := gzip.NewWriter(w)
				io.WriteString(zw, html("Zipped", "widgets"))
				zw.Close()
			},
			keywords:   []string{"widgets"},
			wantCode:   200,
			wantTitle:  "Zipped",
			wantFound:  []string{"widgets"},
			wantLength: int64(len(html("Zipped", "widgets"))),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var written atomic.Int64
			srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				tt.handler(countingWriter{w, &written}, r)
			}))
			cfg := config(srv.port())
			cfg.Keywords = tt.keywords
			if tt.mode != "" {
				cfg.KeywordMode = tt.mode
			}
			c := newChecker(t, cfg)

			before := time.Now()
			res := c.Check(context.Background(), testName, loopback)

			wantURL := nameURL("http", srv.port(), "/")
			if res.Status != domainflow.CheckOK || res.Error != "" {
				t.Fatalf("Status %q Error %q, want ok", res.Status, res.Error)
			}
			if res.StatusCode != tt.wantCode {
				t.Errorf("StatusCode = %d, want %d", res.StatusCode, tt.wantCode)
			}
			if res.Title != tt.wantTitle {
				t.Errorf("Title = %q, want %q", res.Title, tt.wantTitle)
			}
			if !slices.Equal(res.KeywordsFound, tt.wantFound) {
				t.Errorf("KeywordsFound = %q, want %q", res.KeywordsFound, tt.wantFound)
			}
			wantLength := tt.wantLength
			if wantLength == 0 {
				wantLength = written.Load()
			}
			if res.ContentLength != wantLength {
				t.Errorf("ContentLength = %d, want %d", res.ContentLength, wantLength)
			}
			if res.URL != wantURL || res.FinalURL != wantURL {
				t.Errorf("URL %q FinalURL %q, want %q", res.URL, res.FinalURL, wantURL)
			}
			if res.LatencyMS <= 0 || res.LatencyMS > float64(time.Since(before).Milliseconds()+1) {
				t.Errorf("LatencyMS = %v", res.LatencyMS)
			}
			if res.CheckedAt.Before(before) || res.CheckedAt.After(time.Now()) || res.CheckedAt.Location() != time.UTC {
				t.Errorf("CheckedAt = %v", res.CheckedAt)
			}
			if res.ProxyID != nil {
				t.Errorf("ProxyID = %v, want none", res.ProxyID)
			}
			hosts, uas, _ := srv.seen()
			if want := testName + ":" + strconv.Itoa(srv.port()); !slices.Equal(hosts, []string{want}) {
				t.Errorf("server saw Host %q, want [%q]", hosts, want)
			}
			if !slices.Equal(uas, []string{cfg.UserAgent}) {
				t.Errorf("server saw User-Agent %q", uas)
			}
		})
	}
}

type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (w countingWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.n.Add(int64(n))
	return n, err
}

// The connection goes to the address DNS gave (the next one when the first
// refuses), the Host header says the domain name.
func TestCheckAddresses(t *testing.T) {
	srv := newServer(t, page(html("Here", "")))
	tests := []struct {
		name  string
		check string
		addrs []string
	}{
		{"generated name at 127.0.0.1", testName, loopback},
		{"trailing dot and upper case", "SHOP-abc.test.", loopback},
		{"first address refuses, second answers", testName, []string{"127.0.0.2", "127.0.0.1"}},
		{"non-IP addresses are ignored", testName, []string{"evil.example", "127.0.0.1"}},
		{"IPv6 literal in brackets is accepted", testName, []string{"[::1]", "127.0.0.1"}},
		{"no address: the name is resolved", "localhost", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newChecker(t, config(srv.port()))
			res := c.Check(context.Background(), tt.check, tt.addrs)
			if res.Status != domainflow.CheckOK || res.Title != "Here" {
				t.Fatalf("got %+v", res)
			}
			wantHost := strings.ToLower(strings.TrimSuffix(tt.check, "."))
			if !strings.HasPrefix(res.URL, "http://"+wantHost+":") {
				t.Errorf("URL = %q", res.URL)
			}
		})
	}
	hosts, _, _ := srv.seen()
	for i, h := range hosts {
		name, _, _ := net.SplitHostPort(h)
		if want := testName; i == len(hosts)-1 {
			want = "localhost"
			if name != want {
				t.Errorf("request %d: Host %q", i, h)
			}
		} else if name != want {
			t.Errorf("request %d: Host %q, want %s:port", i, h, want)
		}
	}
}

func TestCheckHTTPS(t *testing.T) {
	srv := newTLSServer(t, page(html("Secure shop", "widgets")))
	cfg := config(srv.port())
	cfg.Scheme = "https"
	cfg.Keywords = []string{"widgets"}
	c := newChecker(t, cfg)
	res := c.Check(context.Background(), testName, loopback)
	if res.Status != domainflow.CheckOK || res.Title != "Secure shop" || !slices.Equal(res.KeywordsFound, []string{"widgets"}) {
		t.Fatalf("self-signed HTTPS: got %+v", res)
	}
	if want := nameURL("https", srv.port(), "/"); res.URL != want {
		t.Errorf("URL = %q, want %q", res.URL, want)
	}
	hosts, _, snis := srv.seen()
	if !slices.Equal(snis, []string{testName}) {
		t.Errorf("TLS server names %q, want [%q]", snis, testName)
	}
	if want := testName + ":" + strconv.Itoa(srv.port()); !slices.Equal(hosts, []string{want}) {
		t.Errorf("Hosts %q, want [%q]", hosts, want)
	}
}

func TestCheckDefaultPortOmitted(t *testing.T) {
	// Nothing listens on 80/443 here (or if something does, it is not
	// testName): only the URL matters.
	for _, tt := range []struct {
		scheme string
		port   int
		want   string
	}{
		{"http", 80, "http://" + testName + "/"},
		{"https", 443, "https://" + testName + "/"},
		{"http", 443, "http://" + testName + ":443/"},
		{"https", 8443, "https://" + testName + ":8443/"},
	} {
		cfg := config(tt.port)
		cfg.Scheme = tt.scheme
		cfg.TimeoutMS = 200
		c := newChecker(t, cfg)
		// 192.0.2.1 (TEST-NET-1) would hang; 127.0.0.3 refuses or answers at once.
		res := c.Check(context.Background(), testName, []string{"127.0.0.3"})
		if res.URL != tt.want {
			t.Errorf("%s port %d: URL %q, want %q", tt.scheme, tt.port, res.URL, tt.want)
		}
	}
}

func TestCheckRedirects(t *testing.T) {
	other := newServer(t, page(html("Elsewhere", "")))
	secure := newTLSServer(t, page(html("Secure final", "")))
	final := html("Final", "widgets")

	tests := []struct {
		name      string
		redirects map[string]string // path → Location ({host} = request's Host)
		follow    bool
		max       int
		wantState string
		wantCode  int
		wantFinal string // path on the server, or a full URL
		wantTitle string
		wantError string
	}{
		{
			name:      "chain to a final page",
			redirects: map[string]string{"/": "/a", "/a": "/b", "/b": "/final"},
			follow:    true, max: 5,
			wantState: "ok", wantCode: 200, wantFinal: "/final", wantTitle: "Final",
		},
		{
			name:      "absolute redirect to the same name goes to its address",
			redirects: map[string]string{"/": "http://{host}/final"},
			follow:    true, max: 5,
			wantState: "ok", wantCode: 200, wantFinal: "/final", wantTitle: "Final",
		},
		{
			name:      "to https on the same name",
			redirects: map[string]string{"/": "https://" + net.JoinHostPort(testName, strconv.Itoa(secure.port())) + "/secure"},
			follow:    true, max: 5,
			wantState: "ok", wantCode: 200, wantTitle: "Secure final",
			wantFinal: "https://" + net.JoinHostPort(testName, strconv.Itoa(secure.port())) + "/secure",
		},
		{
			name:      "to another host, resolved normally",
			redirects: map[string]string{"/": "http://localhost:" + strconv.Itoa(other.port()) + "/x"},
			follow:    true, max: 5,
			wantState: "ok", wantCode: 200, wantTitle: "Elsewhere",
			wantFinal: "http://localhost:" + strconv.Itoa(other.port()) + "/x",
		},
		{
			name:      "exactly max redirects",
			redirects: map[string]string{"/": "/1", "/1": "/2", "/2": "/final"},
			follow:    true, max: 3,
			wantState: "ok", wantCode: 200, wantFinal: "/final", wantTitle: "Final",
		},
		{
			name:      "loop",
			redirects: map[string]string{"/": "/a", "/a": "/b", "/b": "/a"},
			follow:    true, max: 20,
			wantState: "error", wantCode: 302, wantFinal: "/b", wantError: "too many redirects",
		},
		{
			name:      "self loop",
			redirects: map[string]string{"/": "/"},
			follow:    true, max: 20,
			wantState: "error", wantCode: 302, wantFinal: "/", wantError: "too many redirects",
		},
		{
			name:      "too many",
			redirects: map[string]string{"/": "/1", "/1": "/2", "/2": "/3", "/3": "/4", "/4": "/final"},
			follow:    true, max: 3,
			wantState: "error", wantCode: 302, wantFinal: "/3", wantError: "too many redirects",
		},
		{
			name:      "follow with max 0",
			redirects: map[string]string{"/": "/final"},
			follow:    true, max: 0,
			wantState: "error", wantCode: 302, wantFinal: "/", wantError: "too many redirects",
		},
		{
			name:      "not following records the 3xx",
			redirects: map[string]string{"/": "/final"},
			follow:    false, max: 5,
			wantState: "ok", wantCode: 302, wantFinal: "/",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hits atomic.Int64
			srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				if to, ok := tt.redirects[r.URL.Path]; ok {
					http.Redirect(w, r, strings.ReplaceAll(to, "{host}", r.Host), http.StatusFound)
					return
				}
				page(final)(w, r)
			}))
			cfg := config(srv.port())
			cfg.FollowRedirects = tt.follow
			cfg.MaxRedirects = tt.max
			c := newChecker(t, cfg)

			start := time.Now()
			res := c.Check(context.Background(), testName, loopback)
			if d := time.Since(start); d > time.Second {
				t.Errorf("took %v", d)
			}
			if res.Status != tt.wantState || res.StatusCode != tt.wantCode || res.Title != tt.wantTitle || res.Error != tt.wantError {
				t.Errorf("got Status %q Code %d Title %q Error %q; want %q %d %q %q",
					res.Status, res.StatusCode, res.Title, res.Error, tt.wantState, tt.wantCode, tt.wantTitle, tt.wantError)
			}
			wantFinal := tt.wantFinal
			if strings.HasPrefix(wantFinal, "/") {
				wantFinal = nameURL("http", srv.port(), wantFinal)
			}
			if res.FinalURL != wantFinal {
				t.Errorf("FinalURL = %q, want %q", res.FinalURL, wantFinal)
			}
			if want := nameURL("http", srv.port(), "/"); res.URL != want {
				t.Errorf("URL = %q, want %q", res.URL, want)
			}
			if n := hits.Load(); n > int64(tt.max)+1 {
				t.Errorf("server got %d requests, more than max+1", n)
			}
		})
	}
	if hosts, _, _ := other.seen(); len(hosts) != 1 || !strings.HasPrefix(hosts[0], "localhost:") {
		t.Errorf("other host saw Hosts %q", hosts)
	}
	if _, _, snis := secure.seen(); !slices.Equal(snis, []string{testName}) {
		t.Errorf("https redirect target saw server names %q", snis)
	}
}

func TestCheckFailures(t *testing.T) {
	release := make(chan struct{}) // unblocks slow handlers at the end
	t.Cleanup(func() { close(release) })
	wait := func(r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		case <-time.After(10 * time.Second):
		}
	}
	slowHead := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { wait(r) }))
	slowBody := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100000")
		io.WriteString(w, "<title>Slow</title>")
		w.(http.Flusher).Flush()
		wait(r)
	}))
	hangup := rawServer(t, func(c net.Conn) { readRequestHead(c) })
	truncated := rawServer(t, func(c net.Conn) {
		readRequestHead(c)
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n<title>Short</title>")
	})
	garbage := rawServer(t, func(c net.Conn) {
		readRequestHead(c)
		io.WriteString(c, "SSH-2.0-OpenSSH_9.6\r\n")
	})
	plain := newServer(t, page(html("Plain", "")))
	tlsPort := newTLSServer(t, page(html("TLS", ""))).port()
	refused := closedPort(t)

	tests := []struct {
		name      string
		port      int
		scheme    string
		timeoutMS int
		wantState string
		wantCode  int
		wantError string // substring
		maxTime   time.Duration
	}{
		{"slow server: no headers within the timeout", slowHead.port(), "http", 300, "timeout", 0, "no response within 300ms", 1500 * time.Millisecond},
		{"slow body: the timeout covers the body", slowBody.port(), "http", 300, "timeout", 200, "no response within 300ms", 1500 * time.Millisecond},
		{"server closes the connection", hangup, "http", 2000, "error", 0, "closed by the server", time.Second},
		{"body cut short", truncated, "http", 2000, "error", 200, "reading body: connection closed by the server", time.Second},
		{"not HTTP", garbage, "http", 2000, "error", 0, "malformed HTTP", time.Second},
		{"connection refused", refused, "http", 2000, "error", 0, "connection refused", time.Second},
		{"HTTPS to a plain HTTP port", plain.port(), "https", 2000, "error", 0, "HTTP response to HTTPS client", time.Second},
		{"HTTP to an HTTPS port is a response (400)", tlsPort, "http", 2000, "ok", 400, "", time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config(tt.port)
			cfg.Scheme = tt.scheme
			cfg.TimeoutMS = tt.timeoutMS
			c := newChecker(t, cfg)
			start := time.Now()
			res := c.Check(context.Background(), testName, loopback)
			took := time.Since(start)
			if res.Status != tt.wantState || res.StatusCode != tt.wantCode || !strings.Contains(res.Error, tt.wantError) {
				t.Errorf("got Status %q Code %d Error %q; want %q %d …%q…", res.Status, res.StatusCode, res.Error, tt.wantState, tt.wantCode, tt.wantError)
			}
			if took > tt.maxTime {
				t.Errorf("took %v, want under %v", took, tt.maxTime)
			}
			if tt.wantState == "timeout" && took < time.Duration(tt.timeoutMS)*time.Millisecond {
				t.Errorf("timed out after %v, before the timeout", took)
			}
			if res.URL != nameURL(tt.scheme, tt.port, "/") || res.CheckedAt.IsZero() {
				t.Errorf("URL %q CheckedAt %v", res.URL, res.CheckedAt)
			}
		})
	}
}

func TestCheckCallerContext(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	slow := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	c := newChecker(t, config(slow.port(), slow.port())) // two ports: the second is not tried

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	res := c.Check(ctx, testName, loopback)
	if res.Status != domainflow.CheckTimeout || time.Since(start) > time.Second {
		t.Errorf("caller deadline: got %q %q after %v", res.Status, res.Error, time.Since(start))
	}

	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start = time.Now()
	res = c.Check(ctx, testName, loopback)
	if res.Status != domainflow.CheckError || !strings.Contains(res.Error, "canceled") || time.Since(start) > time.Second {
		t.Errorf("caller cancel: got %q %q after %v", res.Status, res.Error, time.Since(start))
	}
}

func TestCheckLargeBody(t *testing.T) {
	const total = 100 << 20
	for _, chunked := range []bool{false, true} {
		t.Run(fmt.Sprintf("chunked=%v", chunked), func(t *testing.T) {
			var written atomic.Int64
			done := make(chan struct{})
			srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				defer close(done)
				if !chunked {
					w.Header().Set("Content-Length", strconv.Itoa(total))
				}
				head := "<title>Huge</title> needle "
				io.WriteString(w, head)
				written.Add(int64(len(head)))
				chunk := []byte(strings.Repeat("x", 32<<10))
				for written.Load() < total-int64(len(chunk)) {
					n, err := w.Write(chunk)
					written.Add(int64(n))
					if err != nil {
						return
					}
				}
				io.WriteString(w, " haystack-end")
			}))
			cfg := config(srv.port())
			cfg.MaxBodyBytes = 64 << 10
			cfg.Keywords = []string{"needle", "haystack-end"}
			c := newChecker(t, cfg)

			start := time.Now()
			res := c.Check(context.Background(), testName, loopback)
			took := time.Since(start)
			if res.Status != domainflow.CheckOK || res.ContentLength != 64<<10 || res.Title != "Huge" ||
				!slices.Equal(res.KeywordsFound, []string{"needle"}) {
				t.Errorf("got Status %q Error %q ContentLength %d Title %q Found %q",
					res.Status, res.Error, res.ContentLength, res.Title, res.KeywordsFound)
			}
			if took > 2*time.Second {
				t.Errorf("took %v", took)
			}
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("the server is still sending: the connection was not closed")
			}
			if n := written.Load(); n > total/4 {
				t.Errorf("the server managed to send %d bytes", n)
			}
		})
	}
}

func TestCheckPorts(t *testing.T) {
	srv := newServer(t, page(html("Second port", "")))
	closed1, closed2 := closedPort(t), closedPort(t)

	c := newChecker(t, config(closed1, srv.port()))
	res := c.Check(context.Background(), testName, loopback)
	if res.Status != domainflow.CheckOK || res.Title != "Second port" {
		t.Fatalf("got %+v", res)
	}
	if want := nameURL("http", srv.port(), "/"); res.URL != want || res.FinalURL != want {
		t.Errorf("URL %q FinalURL %q, want %q", res.URL, res.FinalURL, want)
	}

	c = newChecker(t, config(closed1, closed2))
	res = c.Check(context.Background(), testName, loopback)
	if res.Status != domainflow.CheckError || res.URL != nameURL("http", closed1, "/") {
		t.Fatalf("got %+v", res)
	}
	for _, p := range []int{closed1, closed2} {
		if !strings.Contains(res.Error, fmt.Sprintf("port %d: ", p)) {
			t.Errorf("Error %q does not mention port %d", res.Error, p)
		}
	}
}

func TestCheckConcurrent(t *testing.T) {
	srv := newServer(t, page(html("Busy", "widgets")))
	cfg := config(srv.port())
	cfg.Keywords = []string{"widgets"}
	cfg.Concurrency = 64
	c := newChecker(t, cfg)
	var wg sync.WaitGroup
	var bad atomic.Int64
	for range 64 {
		wg.Go(func() {
			for range 8 {
				res := c.Check(context.Background(), testName, loopback)
				if res.Status != domainflow.CheckOK || res.Title != "Busy" || len(res.KeywordsFound) != 1 {
					bad.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if n := bad.Load(); n > 0 {
		t.Errorf("%d of 512 concurrent checks failed", n)
	}
}

func TestCheckInvalidInput(t *testing.T) {
	c := newChecker(t, config(closedPort(t)))
	for _, name := range []string{"", "a b.test", "evil.test/path", "x.test:80", "..test"} {
		res := c.Check(context.Background(), name, loopback)
		if res.Status != domainflow.CheckError || res.Error == "" {
			t.Errorf("Check(%q) = %+v, want an error", name, res)
		}
	}
	c.Close()
	if res := c.Check(context.Background(), testName, loopback); res.Status != domainflow.CheckError || res.Error != "checker closed" {
		t.Errorf("after Close: %+v", res)
	}
}

func TestNew(t *testing.T) {
	good := func() domainflow.HTTPConfig { return config(80) }
	tests := []struct {
		name    string
		edit    func(*domainflow.HTTPConfig)
		proxies []*domainflow.Proxy
		wantErr string
	}{
		{name: "defaults", edit: func(*domainflow.HTTPConfig) {}},
		{name: "zero config", edit: func(c *domainflow.HTTPConfig) { *c = domainflow.HTTPConfig{} }},
		{name: "bad regex", edit: func(c *domainflow.HTTPConfig) { c.KeywordMode = "regex"; c.Keywords = []string{"(unclosed"} }, wantErr: "regular expression"},
		{name: "regex ok", edit: func(c *domainflow.HTTPConfig) { c.KeywordMode = "regex"; c.Keywords = []string{`a+b`} }},
		{name: "bad mode", edit: func(c *domainflow.HTTPConfig) { c.KeywordMode = "glob" }, wantErr: "keyword mode"},
		{name: "blank keyword", edit: func(c *domainflow.HTTPConfig) { c.Keywords = []string{" "} }, wantErr: "blank"},
		{name: "bad scheme", edit: func(c *domainflow.HTTPConfig) { c.Scheme = "ftp" }, wantErr: "scheme"},
		{name: "bad port", edit: func(c *domainflow.HTTPConfig) { c.Ports = []int{80, 70000} }, wantErr: "port"},
		{
			name: "bad proxy protocol", edit: func(*domainflow.HTTPConfig) {},
			proxies: []*domainflow.Proxy{{Protocol: "gopher", Host: "127.0.0.1", Port: 1, Enabled: true}},
			wantErr: "protocol",
		},
		{
			name: "unusable proxies are not checked", edit: func(*domainflow.HTTPConfig) {},
			proxies: []*domainflow.Proxy{nil, {Protocol: "gopher", Host: "127.0.0.1", Port: 1, Enabled: false}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good()
			tt.edit(&cfg)
			c, err := httpcheck.New(cfg, tt.proxies)
			if c != nil {
				defer c.Close()
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("New: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("New: error %v, want …%s…", err, tt.wantErr)
			}
		})
	}
}
