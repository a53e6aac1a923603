package dnscheck

// SetResolvConfPath points New at another resolv.conf for the test's
// duration; the returned function restores the real one.
func SetResolvConfPath(p string) (restore func()) {
	old := resolvConfPath
	resolvConfPath = p
	return func() { resolvConfPath = old }
}
