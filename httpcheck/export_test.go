package httpcheck

import "crypto/x509"

// SetProxyRoots makes c verify https proxies against roots (a test's own CA)
// instead of the system roots.
func SetProxyRoots(c *Checker, roots *x509.CertPool) { c.proxyRoots = roots }
