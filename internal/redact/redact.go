// Package redact hides the credentials a URL can carry, for every log line, error and attribute the
// collector's components write: the password (and user) of userinfo, and the values of query
// parameters that name a secret (token, api_key, signature, ...). One helper, so that a password
// typed into any endpoint never reaches a log or a Prometheus label.
package redact // import "github.com/otel-inference/collector/internal/redact"

import (
	"net/url"
	"regexp"
	"strings"
)

// Mask stands in for what is hidden.
const Mask = "xxxxx"

// URL is raw with its credentials hidden: http://user:pass@host/p?token=t&a=1 becomes
// http://xxxxx@host/p?a=1&token=xxxxx. A string that does not parse as a URL is scrubbed as text.
func URL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" {
		return String(raw)
	}
	changed := false
	if u.User != nil {
		u.User = url.User(Mask)
		changed = true
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			if secretParam(k) {
				q.Set(k, Mask)
				changed = true
			}
		}
		if changed {
			u.RawQuery = q.Encode()
		}
	}
	if !changed {
		return raw
	}
	return u.String()
}

// secretParams are query parameter names (lower case) whose values are secrets.
var secretParams = map[string]bool{
	"token": true, "access_token": true, "id_token": true, "refresh_token": true, "bearer": true,
	"api_key": true, "apikey": true, "api-key": true, "key": true, "x-api-key": true,
	"password": true, "passwd": true, "pwd": true, "secret": true, "client_secret": true,
	"sig": true, "signature": true, "x-amz-signature": true, "x-amz-security-token": true,
	"x-goog-signature": true, "auth": true, "authorization": true, "credential": true,
}

func secretParam(name string) bool {
	n := strings.ToLower(name)
	return secretParams[n] || strings.Contains(n, "token") || strings.Contains(n, "secret") || strings.Contains(n, "password")
}

var (
	// userinfo in a URL inside text: scheme://anything-but-/@ up to the last @ before the host.
	userinfoInText = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s"'@]*@`)
	// a secret query parameter inside text.
	paramInText = regexp.MustCompile(`([?&])([^=&\s"']+)=([^&\s"'#]*)`)
)

// String scrubs every URL inside free text (an error message, a log line): userinfo hidden, secret
// query parameters' values hidden.
func String(s string) string {
	if !strings.Contains(s, "@") && !strings.Contains(s, "=") {
		return s
	}
	s = userinfoInText.ReplaceAllString(s, "${1}"+Mask+"@")
	return paramInText.ReplaceAllStringFunc(s, func(m string) string {
		sub := paramInText.FindStringSubmatch(m)
		if !secretParam(sub[2]) {
			return m
		}
		return sub[1] + sub[2] + "=" + Mask
	})
}

// Error is err's message scrubbed (String), "" for nil.
func Error(err error) string {
	if err == nil {
		return ""
	}
	return String(err.Error())
}

// Wrap is err with a scrubbed message (String); errors.Is and errors.As still see err.
func Wrap(err error) error {
	if err == nil {
		return nil
	}
	return scrubbed{err}
}

type scrubbed struct{ err error }

func (s scrubbed) Error() string { return String(s.err.Error()) }
func (s scrubbed) Unwrap() error { return s.err }
