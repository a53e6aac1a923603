package tests

import (
	"bytes"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/domainflow/domainflow/gen/api"
	"github.com/domainflow/domainflow/gen/client"
)

// listen opens a loopback listener closed when the test ends, and serves
// each connection with handle (with a deadline, so nothing hangs).
func listen(t *testing.T, handle func(net.Conn)) *net.TCPAddr {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer conn.Close()
				conn.SetDeadline(time.Now().Add(10 * time.Second))
				handle(conn)
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr)
}

// socksLog records what a fake SOCKS5 server was told.
type socksLog struct {
	mu        sync.Mutex
	greetings [][]byte // the methods offered, per connection
	logins    [][2]string
}

func (l *socksLog) snapshot() (greetings [][]byte, logins [][2]string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.greetings), slices.Clone(l.logins)
}

// fakeSOCKS5 answers the SOCKS5 greeting (RFC 1928): "no authentication"
// (05 00) when user is empty; otherwise it asks for username/password
// (05 02) and accepts only user and pass (RFC 1929).
func fakeSOCKS5(t *testing.T, user, pass string) (*net.TCPAddr, *socksLog) {
	log := new(socksLog)
	addr := listen(t, func(conn net.Conn) {
		head := make([]byte, 2)
		if _, err := io.ReadFull(conn, head); err != nil || head[0] != 0x05 {
			return
		}
		methods := make([]byte, head[1])
		if _, err := io.ReadFull(conn, methods); err != nil {
			return
		}
		log.mu.Lock()
		log.greetings = append(log.greetings, methods)
		log.mu.Unlock()
		if user == "" {
			conn.Write([]byte{0x05, 0x00})
			io.Copy(io.Discard, conn) // until the checker hangs up
			return
		}
		if !slices.Contains(methods, 0x02) {
			conn.Write([]byte{0x05, 0xFF})
			return
		}
		conn.Write([]byte{0x05, 0x02})
		readField := func() (string, bool) {
			n := make([]byte, 1)
			if _, err := io.ReadFull(conn, n); err != nil {
				return "", false
			}
			b := make([]byte, n[0])
			_, err := io.ReadFull(conn, b)
			return string(b), err == nil
		}
		ver := make([]byte, 1)
		if _, err := io.ReadFull(conn, ver); err != nil || ver[0] != 0x01 {
			return
		}
		u, ok1 := readField()
		p, ok2 := readField()
		if !ok1 || !ok2 {
			return
		}
		log.mu.Lock()
		log.logins = append(log.logins, [2]string{u, p})
		log.mu.Unlock()
		if u == user && p == pass {
			conn.Write([]byte{0x01, 0x00})
		} else {
			conn.Write([]byte{0x01, 0x01})
		}
		io.Copy(io.Discard, conn)
	})
	return addr, log
}

// checkNoSecrets checks that a proxy answer holds no credentials: no
// "password" or "username" member anywhere, and not the secret values.
func checkNoSecrets(t *testing.T, what string, body []byte, secrets ...string) {
	t.Helper()
	for _, key := range []string{`"password"`, `"username"`} {
		if bytes.Contains(body, []byte(key)) {
			t.Errorf("%s: the answer has a %s member: %s", what, key, body)
		}
	}
	for _, s := range secrets {
		if s != "" && bytes.Contains(body, []byte(s)) {
			t.Errorf("%s: the answer shows the credential %q: %s", what, s, body)
		}
	}
}

func TestProxies(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *testServer) {
		ctx := testCtx(t)
		alice := s.newUser(t, "alice")
		cl := alice.api()
		const user, pass = "proxy-user-7f3a", "pw-s3cret-91c2"

		// Create, with and without credentials.
		before := time.Now().Add(-time.Second)
		cr, err := cl.CreateProxyWithResponse(ctx, api.ProxyCreate{Name: "socks one", Protocol: api.ProxyProtocolSocks5, Host: "127.0.0.1", Port: 1080, Username: ptr(user), Password: ptr(pass)})
		mustStatus(t, "create proxy with credentials", cr, err, 201)
		checkNoSecrets(t, "create proxy", cr.Body, user, pass)
		p1 := *cr.JSON201
		if p1.Id == uuid.Nil || p1.Name != "socks one" || p1.Protocol != api.ProxyProtocolSocks5 || p1.Host != "127.0.0.1" || p1.Port != 1080 ||
			!p1.Enabled || !p1.HasCredentials || p1.Health != api.Unknown || p1.LatencyMs != nil || p1.LastCheckedAt != nil || p1.LastError != nil ||
			p1.CreatedAt.Before(before) {
			t.Errorf("created proxy: %s", cr.Body)
		}
		cr2, err := cl.CreateProxyWithResponse(ctx, api.ProxyCreate{Name: "plain http", Protocol: api.ProxyProtocolHttp, Host: "proxy.example", Port: 3128, Enabled: ptr(false)})
		mustStatus(t, "create proxy without credentials", cr2, err, 201)
		p2 := *cr2.JSON201
		if p2.HasCredentials || p2.Enabled {
			t.Errorf("proxy without credentials, disabled: has_credentials %v, enabled %v; want false, false", p2.HasCredentials, p2.Enabled)
		}
		cr3, err := cl.CreateProxyWithResponse(ctx, api.ProxyCreate{Name: "password only", Protocol: api.ProxyProtocolHttps, Host: "127.0.0.1", Port: 8443, Password: ptr(pass)})
		mustStatus(t, "create proxy with only a password", cr3, err, 201)
		checkNoSecrets(t, "create proxy with only a password", cr3.Body, pass)
		if !cr3.JSON201.HasCredentials {
			t.Errorf("proxy with only a password: has_credentials false")
		}

		// Get and list never show credentials; the list is oldest first.
		g, err := cl.GetProxyWithResponse(ctx, p1.Id)
		mustStatus(t, "get proxy", g, err, 200)
		checkNoSecrets(t, "get proxy", g.Body, user, pass)
		if g.JSON200.Id != p1.Id || g.JSON200.Name != p1.Name || !g.JSON200.HasCredentials {
			t.Errorf("get proxy: %s", g.Body)
		}
		l, err := cl.ListProxiesWithResponse(ctx)
		mustStatus(t, "list proxies", l, err, 200)
		checkNoSecrets(t, "list proxies", l.Body, user, pass)
		var order []uuid.UUID
		for _, p := range l.JSON200.Items {
			order = append(order, p.Id)
		}
		if want := []uuid.UUID{p1.Id, p2.Id, cr3.JSON201.Id}; !slices.Equal(order, want) {
			t.Errorf("proxies listed %v, want oldest first %v", order, want)
		}

		// PATCH changes only the fields given.
		patch := func(what string, id uuid.UUID, u api.ProxyUpdate) api.Proxy {
			t.Helper()
			r, err := cl.UpdateProxyWithResponse(ctx, id, u)
			mustStatus(t, what, r, err, 200)
			checkNoSecrets(t, what, r.Body, user, pass)
			g, err := cl.GetProxyWithResponse(ctx, id)
			mustStatus(t, what+": get", g, err, 200)
			if !sameProxy(*g.JSON200, *r.JSON200) {
				t.Errorf("%s: answered %s but reads back %s", what, r.Body, g.Body)
			}
			return *r.JSON200
		}
		renamed := patch("rename", p1.Id, api.ProxyUpdate{Name: ptr("socks renamed")})
		want := p1
		want.Name = "socks renamed"
		if !sameProxy(renamed, want) {
			t.Errorf("rename changed more than the name:\n got  %s\n want %s", mustJSON(renamed), mustJSON(want))
		}
		if renamed.UpdatedAt.Before(p1.UpdatedAt) {
			t.Errorf("rename: updated_at went back from %v to %v", p1.UpdatedAt, renamed.UpdatedAt)
		}
		disabled := patch("disable", p1.Id, api.ProxyUpdate{Enabled: ptr(false)})
		want.Enabled = false
		if !sameProxy(disabled, want) {
			t.Errorf("disable changed more than enabled:\n got  %s\n want %s", mustJSON(disabled), mustJSON(want))
		}
		noPass := patch("remove the password", p1.Id, api.ProxyUpdate{Password: ptr("")})
		if !noPass.HasCredentials || noPass.Name != "socks renamed" || noPass.Enabled {
			t.Errorf("after removing only the password: %s (the username is still stored)", mustJSON(noPass))
		}
		noCreds := patch("remove the username", p1.Id, api.ProxyUpdate{Username: ptr("")})
		if noCreds.HasCredentials {
			t.Errorf("after removing username and password: has_credentials still true")
		}
		back := patch("set credentials again", p1.Id, api.ProxyUpdate{Username: ptr(user), Password: ptr(pass), Enabled: ptr(true)})
		if !back.HasCredentials || !back.Enabled || back.Name != "socks renamed" || back.Port != 1080 {
			t.Errorf("after setting credentials again: %s", mustJSON(back))
		}

		// Bad PATCH bodies.
		r, err := cl.UpdateProxyWithResponse(ctx, p1.Id, api.ProxyUpdate{})
		checkProblem(t, "PATCH with an empty body", r, err, 400, "invalid")
		r, err = cl.UpdateProxyWithResponse(ctx, p1.Id, api.ProxyUpdate{Port: ptr(70000)})
		checkNames(t, "PATCH port 70000", checkProblem(t, "PATCH port 70000", r, err, 400, "invalid"), byPointer, "/port")
		r, err = cl.UpdateProxyWithResponse(ctx, p1.Id, api.ProxyUpdate{Name: ptr("")})
		checkNames(t, "PATCH an empty name", checkProblem(t, "PATCH an empty name", r, err, 400, "invalid"), byPointer, "/name")
		r, err = cl.UpdateProxyWithResponse(ctx, uuid.New(), api.ProxyUpdate{Name: ptr("x")})
		checkProblem(t, "PATCH a missing proxy", r, err, 404, "not_found")
		g, err = cl.GetProxyWithResponse(ctx, p1.Id)
		mustStatus(t, "get after refused patches", g, err, 200)
		if !sameProxy(*g.JSON200, back) {
			t.Errorf("refused patches changed the proxy: %s", g.Body)
		}

		// Delete.
		d, err := cl.DeleteProxyWithResponse(ctx, p2.Id)
		mustStatus(t, "delete proxy", d, err, 204)
		gd, err := cl.GetProxyWithResponse(ctx, p2.Id)
		checkProblem(t, "get deleted proxy", gd, err, 404, "not_found")
		dd, err := cl.DeleteProxyWithResponse(ctx, p2.Id)
		checkProblem(t, "delete deleted proxy", dd, err, 404, "not_found")
		l, err = cl.ListProxiesWithResponse(ctx)
		mustStatus(t, "list after delete", l, err, 200)
		if len(l.JSON200.Items) != 2 || slices.ContainsFunc(l.JSON200.Items, func(p api.Proxy) bool { return p.Id == p2.Id }) {
			t.Errorf("list after delete: %s", l.Body)
		}
	})
}

// sameProxy compares proxies except updated_at, with timestamps compared as
// instants.
func sameProxy(a, b api.Proxy) bool {
	ok := func(x, y *time.Time) bool {
		return (x == nil) == (y == nil) && (x == nil || closeTimes(*x, *y))
	}
	return a.Id == b.Id && a.Name == b.Name && a.Protocol == b.Protocol && a.Host == b.Host && a.Port == b.Port &&
		a.Enabled == b.Enabled && a.HasCredentials == b.HasCredentials && a.Health == b.Health &&
		deref(a.LastError) == deref(b.LastError) && (a.LatencyMs == nil) == (b.LatencyMs == nil) &&
		ok(a.LastCheckedAt, b.LastCheckedAt) && closeTimes(a.CreatedAt, b.CreatedAt)
}

func TestProxyHealthCheck(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *testServer) {
		ctx := testCtx(t)
		alice := s.newUser(t, "alice")
		cl := alice.api()
		const user, pass = "socks-user", "socks-pass-5d1e"

		closer := listen(t, func(net.Conn) {}) // accepts and hangs up at once
		open, openLog := fakeSOCKS5(t, "", "")
		authed, authLog := fakeSOCKS5(t, user, pass)
		// A loopback port nothing listens on.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		refused := ln.Addr().(*net.TCPAddr)
		ln.Close()

		cases := []struct {
			name       string
			addr       *net.TCPAddr
			user, pass string
			healthy    bool
		}{
			{"a listener that closes at once", closer, "", "", false},
			{"a port nothing listens on", refused, "", "", false},
			{"a SOCKS5 server answering 05 00", open, "", "", true},
			{"a SOCKS5 server with the right login", authed, user, pass, true},
			{"a SOCKS5 server with a wrong password", authed, user, "wrong-pw-0b7e", false},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				body := api.ProxyCreate{Name: tc.name, Protocol: api.ProxyProtocolSocks5, Host: "127.0.0.1", Port: tc.addr.Port}
				if tc.user != "" {
					body.Username, body.Password = ptr(tc.user), ptr(tc.pass)
				}
				cr, err := cl.CreateProxyWithResponse(ctx, body)
				mustStatus(t, "create proxy", cr, err, 201)
				start := time.Now().Add(-time.Second)
				tr, err := cl.TestProxyWithResponse(ctx, cr.JSON201.Id)
				mustStatus(t, "test proxy", tr, err, 200)
				checkNoSecrets(t, "test proxy", tr.Body, tc.pass)
				p := *tr.JSON200
				if p.LastCheckedAt == nil || p.LastCheckedAt.Before(start) {
					t.Errorf("last_checked_at = %v, want the time of the check", p.LastCheckedAt)
				}
				if tc.healthy {
					if p.Health != api.Healthy || p.LatencyMs == nil || *p.LatencyMs < 0 || p.LastError != nil {
						t.Errorf("want healthy with a latency and no error, got %s", tr.Body)
					}
				} else if p.Health != api.Unhealthy || p.LatencyMs != nil || strings.TrimSpace(deref(p.LastError)) == "" {
					t.Errorf("want unhealthy with last_error and no latency, got %s", tr.Body)
				}
				// The health is recorded.
				g, err := cl.GetProxyWithResponse(ctx, cr.JSON201.Id)
				mustStatus(t, "get proxy after the test", g, err, 200)
				if !sameProxy(*g.JSON200, p) {
					t.Errorf("test answered %s but the proxy reads back %s", tr.Body, g.Body)
				}
			})
		}

		greetings, _ := openLog.snapshot()
		if len(greetings) != 1 || !slices.Equal(greetings[0], []byte{0x00}) {
			t.Errorf("the open SOCKS5 server saw greetings %v, want one offering only 'no authentication' (00)", greetings)
		}
		_, logins := authLog.snapshot()
		if want := [][2]string{{user, pass}, {user, "wrong-pw-0b7e"}}; !slices.Equal(logins, want) {
			t.Errorf("the SOCKS5 server with a login saw logins %q, want %q (the stored credentials)", logins, want)
		}
	})
}

// slowSOCKS5 listens as a SOCKS5 proxy that holds its answer to the first
// greeting until release is called (greeted is closed when that greeting
// arrives; later ones are answered at once), so that a test can act while a
// check is certainly under way.
func slowSOCKS5(t *testing.T) (addr *net.TCPAddr, greeted <-chan struct{}, release func()) {
	t.Helper()
	first, held := make(chan struct{}), make(chan struct{})
	var once, releaseOnce sync.Once
	addr = listen(t, func(conn net.Conn) {
		greeting := make([]byte, 3) // 05 01 (one method) and the method
		if _, err := io.ReadFull(conn, greeting); err != nil {
			return
		}
		isFirst := false
		once.Do(func() { isFirst = true; close(first) })
		if isFirst {
			<-held
		}
		conn.Write([]byte{0x05, 0x00})
		io.Copy(io.Discard, conn)
	})
	t.Cleanup(func() { releaseOnce.Do(func() { close(held) }) })
	return addr, first, func() { releaseOnce.Do(func() { close(held) }) }
}

// A proxy test records only the proxy's health: an edit made while the
// check runs stays (it used to be written back over), and a proxy moved
// while it runs does not get the health of its old address. The SOCKS5
// server holds its answer until the edit is done, so the edit always lands
// inside the check.
func TestProxyEditDuringCheckStays(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *testServer) {
		ctx := testCtx(t)
		cl := s.newUser(t, "alice").api()
		elsewhere := listen(t, func(net.Conn) {})

		cases := []struct {
			name     string
			edit     api.ProxyUpdate
			recorded bool // the check's health is written
		}{
			{"rename and disable", api.ProxyUpdate{Name: ptr("renamed during the check"), Enabled: ptr(false)}, true},
			{"rename only", api.ProxyUpdate{Name: ptr("renamed again")}, true},
			{"move to another port", api.ProxyUpdate{Port: ptr(elsewhere.Port), Name: ptr("moved")}, false},
			{"change the password", api.ProxyUpdate{Password: ptr("new-pass")}, false},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				addr, greeted, release := slowSOCKS5(t)
				cr, err := cl.CreateProxyWithResponse(ctx, api.ProxyCreate{Name: "slow", Protocol: api.ProxyProtocolSocks5, Host: "127.0.0.1", Port: addr.Port})
				mustStatus(t, "create proxy", cr, err, 201)
				id := cr.JSON201.Id

				type result struct {
					r   *client.TestProxyResponse
					err error
				}
				tested := make(chan result, 1)
				start := time.Now().Add(-time.Second)
				go func() {
					r, err := cl.TestProxyWithResponse(ctx, id)
					tested <- result{r, err}
				}()
				select {
				case <-greeted:
				case <-ctx.Done():
					t.Fatal("the check never reached the proxy")
				}
				up, err := cl.UpdateProxyWithResponse(ctx, id, tc.edit)
				release()
				mustStatus(t, "PATCH during the check", up, err, 200)
				edited := *up.JSON200
				res := <-tested
				mustStatus(t, "test proxy", res.r, res.err, 200)

				g, err := cl.GetProxyWithResponse(ctx, id)
				mustStatus(t, "get proxy after the check", g, err, 200)
				for what, p := range map[string]api.Proxy{"the test's answer": *res.r.JSON200, "the proxy read back": *g.JSON200} {
					if p.Name != edited.Name || p.Enabled != edited.Enabled || p.Port != edited.Port || p.HasCredentials != edited.HasCredentials {
						t.Errorf("%s is %s; the edit made during the check was undone (want %s)", what, mustJSON(p), up.Body)
					}
					if tc.recorded {
						if p.Health == api.Unknown || p.LastCheckedAt == nil || p.LastCheckedAt.Before(start) {
							t.Errorf("%s is %s; want the health the check found", what, mustJSON(p))
						}
					} else if p.Health != api.Unknown || p.LastCheckedAt != nil {
						t.Errorf("%s is %s; want the health unknown: the proxy checked is not the proxy as it now is", what, mustJSON(p))
					}
				}
			})
		}
	})
}

// The periodic health check, like the proxy test, writes only the health: a
// proxy renamed and disabled while the check runs stays renamed and
// disabled, with the health the check found.
func TestProxyHealthCheckKeepsEdits(t *testing.T) {
	start := func(t *testing.T, d string) *testServer { return startServer(t, d, "--proxy-check-interval", "300ms") }
	eachDialectWith(t, start, func(t *testing.T, s *testServer) {
		ctx := testCtx(t)
		alice := s.newUser(t, "alice")
		cl := alice.api()
		ws := alice.connectWS(ctx, t, s)

		addr, greeted, release := slowSOCKS5(t)
		cr, err := cl.CreateProxyWithResponse(ctx, api.ProxyCreate{Name: "slow", Protocol: api.ProxyProtocolSocks5, Host: "127.0.0.1", Port: addr.Port})
		mustStatus(t, "create proxy", cr, err, 201)
		id := cr.JSON201.Id

		select {
		case <-greeted:
		case <-ctx.Done():
			t.Fatal("the health check never reached the proxy")
		}
		up, err := cl.UpdateProxyWithResponse(ctx, id, api.ProxyUpdate{Name: ptr("renamed during the check"), Enabled: ptr(false)})
		release()
		mustStatus(t, "PATCH during the check", up, err, 200)

		type status struct {
			ProxyID uuid.UUID `json:"proxy_id"`
			Health  string    `json:"health"`
		}
		m := ws.waitFor(t, "proxy_status of the proxy checked", 30*time.Second, func(m wsMsg) bool {
			return m.Type == "proxy_status" && decodeData[status](t, m).ProxyID == id
		})
		if h := decodeData[status](t, m).Health; h != "healthy" {
			t.Errorf("proxy_status says %s; want healthy", h)
		}
		g, err := cl.GetProxyWithResponse(ctx, id)
		mustStatus(t, "get proxy after the check", g, err, 200)
		if p := g.JSON200; p.Name != "renamed during the check" || p.Enabled || p.Health != api.Healthy || p.LastCheckedAt == nil {
			t.Errorf("after the health check the proxy is %s; want the edit kept (renamed, disabled) and the health recorded", g.Body)
		}
	})
}
