package yamlconf

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

// HostPort checks a listen or peer address ("host:port", the host may be
// empty for every interface) and returns its host.
func HostPort(addr string) (string, error) {
	if addr == "" {
		return "", errors.New("required: an address such as 127.0.0.1:8443")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("%q is not host:port", addr)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return "", fmt.Errorf("%q: port %q is not a number from 0 to 65535", addr, port)
	}
	if host != "" && !HostName(host) {
		return "", fmt.Errorf("%q: host %q is neither an IP address nor a host name", addr, host)
	}
	return host, nil
}

// Loopback reports whether host is a loopback address or "localhost". The
// empty host (every interface) is not.
func Loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

var hostLabelRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)

// HostName reports whether h is an IP address or a valid DNS name.
func HostName(h string) bool {
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	if h == "" || len(h) > 253 {
		return false
	}
	for _, l := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if !hostLabelRE.MatchString(l) {
			return false
		}
	}
	return true
}

// BrokerURL checks an MQTT broker URL of the city: tls://host:port (ssl://
// and mqtts:// are the same); the links are always TLS.
func BrokerURL(u string) error {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok || (scheme != "tls" && scheme != "ssl" && scheme != "mqtts") {
		return fmt.Errorf("%q: want tls://host:port (the links are always TLS)", u)
	}
	host, err := HostPort(rest)
	if err != nil {
		return err
	}
	if host == "" {
		return fmt.Errorf("%q: no host", u)
	}
	return nil
}

// InterfaceName checks a network interface name as Linux allows it (1 to
// 15 bytes, no '/', ':' or white space): the interface need not exist
// yet (a modem comes up later).
func InterfaceName(name string) error {
	if name == "" || len(name) > 15 || strings.ContainsAny(name, "/: \t\n") {
		return fmt.Errorf("%q: not an interface name (1 to 15 characters, no '/', ':' or spaces; e.g. wwan0)", name)
	}
	return nil
}

// Uplinks is an uplink's brokers as a configuration names them: the
// primary list and a cellular one used only while the primary is down,
// with the interface the cellular connections are bound to.
type Uplinks struct {
	PrimaryField, CellularField, InterfaceField string
	Primary, Cellular                           []string
	Interface                                   string
}

// Problems reports, through bad, each broker URL of u that is not one and
// an interface name that is not one or that binds no cellular broker.
func (u Uplinks) Problems(bad func(field, format string, args ...any)) {
	for _, l := range []struct {
		field string
		urls  []string
	}{{u.PrimaryField, u.Primary}, {u.CellularField, u.Cellular}} {
		for i, url := range l.urls {
			if err := BrokerURL(url); err != nil {
				bad(fmt.Sprintf("%s[%d]", l.field, i), "%v", err)
			}
		}
	}
	if u.Interface == "" {
		return
	}
	if err := InterfaceName(u.Interface); err != nil {
		bad(u.InterfaceField, "%v", err)
	} else if len(u.Cellular) == 0 {
		bad(u.InterfaceField, "set, but %s names no broker", u.CellularField)
	}
}
