package dashboard

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/payd/payd/store"
)

// Cookie names. The session cookie holds 256 random bits; the database
// holds only their SHA-256.
const (
	sessionCookie = "payd_session"
	loginCookie   = "payd_login" // the sign-in form's CSRF token (double submit)
)

// request is what a console handler knows about its request.
type request struct {
	loc       *locale
	now       time.Time
	sess      *store.AdminSession
	admin     store.Admin
	loginCSRF string
}

func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashToken(tok string) string {
	s := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(s[:])
}

// secure reports whether cookies must be Secure: payd is served over TLS
// (directly, through a trusted proxy, or per its https public URL).
func (h *Handler) secure(r *http.Request) bool {
	return r.TLS != nil || strings.HasPrefix(h.cfg.BaseURL, "https://") ||
		(h.cfg.TrustProxy && strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https"))
}

func (h *Handler) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: h.cfg.Path + "/", MaxAge: maxAge,
		HttpOnly: true, Secure: h.secure(r), SameSite: http.SameSiteStrictMode})
}

// authenticate loads the session of the request's cookie and its admin;
// a missing, unknown or expired session is a *redirectLogin.
func (h *Handler) authenticate(w http.ResponseWriter, r *http.Request, rq *request) error {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return &redirectLogin{}
	}
	idHash := hashToken(c.Value)
	s, err := h.d.Store.AdminSession(r.Context(), idHash)
	if errors.Is(err, store.ErrNotFound) {
		h.setCookie(w, r, sessionCookie, "", -1)
		return &redirectLogin{reason: "expired"}
	}
	if err != nil {
		return err
	}
	if !rq.now.Before(s.ExpiresAt) || !rq.now.Before(s.LastSeenAt.Add(h.cfg.SessionIdle)) {
		_ = h.d.Store.DeleteAdminSession(r.Context(), idHash)
		h.setCookie(w, r, sessionCookie, "", -1)
		return &redirectLogin{reason: "expired"}
	}
	a, err := h.d.Store.Admin(r.Context(), s.AdminID)
	if errors.Is(err, store.ErrNotFound) {
		return &redirectLogin{reason: "expired"}
	}
	if err != nil {
		return err
	}
	if rq.now.Sub(s.LastSeenAt) >= 30*time.Second {
		if err := h.d.Store.TouchAdminSession(r.Context(), idHash, rq.now); err != nil {
			h.log.Warn("touch console session", "err", err)
		}
	}
	rq.sess, rq.admin = &s, a
	return nil
}

// checkCSRF verifies a POST: the form's csrf field must equal the token, and
// an Origin header, when sent, must be this host.
func (h *Handler) checkCSRF(r *http.Request, token string) error {
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || !h.sameOrigin(r, u.Host) {
			return pageErr(http.StatusForbidden, "err_csrf")
		}
	}
	got := r.PostFormValue("csrf")
	if got == "" || token == "" || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
		return pageErr(http.StatusForbidden, "err_csrf")
	}
	return nil
}

// sameOrigin reports whether host is payd's own: the request's Host, the
// public URL's host, or (behind a trusted proxy) X-Forwarded-Host.
func (h *Handler) sameOrigin(r *http.Request, host string) bool {
	if host == "" {
		return false
	}
	if strings.EqualFold(host, r.Host) {
		return true
	}
	if u, err := url.Parse(h.cfg.BaseURL); err == nil && u.Host != "" && strings.EqualFold(host, u.Host) {
		return true
	}
	return h.cfg.TrustProxy && strings.EqualFold(host, r.Header.Get("X-Forwarded-Host"))
}

// ipLimiter allows n sign-in attempts per client address per window.
type ipLimiter struct {
	mu     sync.Mutex
	n      int
	window time.Duration
	hits   map[string][]time.Time
}

func newIPLimiter(n int, window time.Duration) *ipLimiter {
	return &ipLimiter{n: n, window: window, hits: map[string][]time.Time{}}
}

func (l *ipLimiter) allow(ip string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.hits) > 10000 { // bound memory under a spray of addresses
		for k, v := range l.hits {
			if len(v) == 0 || now.Sub(v[len(v)-1]) > l.window {
				delete(l.hits, k)
			}
		}
	}
	hs := l.hits[ip]
	i := 0
	for i < len(hs) && now.Sub(hs[i]) > l.window {
		i++
	}
	hs = hs[i:]
	if len(hs) >= l.n {
		l.hits[ip] = hs
		return false
	}
	l.hits[ip] = append(hs, now)
	return true
}

// ghostLocks counts wrong sign-ins for names that are no user, to answer
// them exactly as a real user's (locked after LockoutAfter), bounded in size.
type ghostLocks struct {
	mu sync.Mutex
	m  map[string]ghost
}

type ghost struct {
	n     int
	until time.Time
}

// fail counts a failure for name and reports whether it is (now) locked.
func (g *ghostLocks) fail(name string, now time.Time) (time.Time, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.m == nil || len(g.m) > 10000 {
		g.m = map[string]ghost{}
	}
	x := g.m[name]
	if now.Before(x.until) {
		return x.until, true
	}
	x.n++
	if x.n >= LockoutAfter {
		x.until = now.Add(LockoutFor)
	}
	g.m[name] = x
	return x.until, x.n >= LockoutAfter
}

type loginData struct {
	Name    string
	Message string // catalog key
	Next    string
	Locked  string
}

// loginPage is GET /login.
func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request, rq *request) error {
	d := &loginData{Next: safeNext(r.URL.Query().Get("next"))}
	switch r.URL.Query().Get("m") {
	case "expired":
		d.Message = "login_expired"
	case "out":
		d.Message = "login_signed_out"
	}
	return h.renderLogin(w, r, rq, http.StatusOK, d)
}

func (h *Handler) renderLogin(w http.ResponseWriter, r *http.Request, rq *request, status int, d *loginData) error {
	rq.loginCSRF = randomToken()
	h.setCookie(w, r, loginCookie, rq.loginCSRF, 3600)
	h.render(w, r, rq, "login", status, d)
	return nil
}

// safeNext keeps a post-login redirect inside the console.
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return ""
	}
	return next
}

// loginSubmit is POST /login.
func (h *Handler) loginSubmit(w http.ResponseWriter, r *http.Request, rq *request) error {
	name := strings.TrimSpace(r.PostFormValue("name"))
	d := &loginData{Name: name, Next: safeNext(r.PostFormValue("next"))}
	c, err := r.Cookie(loginCookie)
	if err != nil || c.Value == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue("csrf"))) != 1 {
		h.d.OnLoginFailure("csrf")
		d.Message = "login_stale"
		return h.renderLogin(w, r, rq, http.StatusForbidden, d)
	}
	if !h.limiter.allow(h.clientIP(r), rq.now) {
		h.d.OnLoginFailure("rate_limited")
		d.Message = "login_rate_limited"
		return h.renderLogin(w, r, rq, http.StatusTooManyRequests, d)
	}
	password := r.PostFormValue("password")
	a, err := h.d.Store.AdminByName(r.Context(), name)
	if errors.Is(err, store.ErrNotFound) {
		// Same time and the same answers (lockout included) as for a real
		// user, so that sign-in does not tell which names exist.
		_, _ = VerifyPassword(password, dummyHash)
		reason, status := "password", http.StatusUnauthorized
		d.Message = "login_wrong"
		if until, locked := h.ghosts.fail(name, rq.now); locked {
			reason, d.Message, d.Locked, status = "locked", "login_locked", until.Format(time.RFC3339), http.StatusTooManyRequests
		}
		h.d.OnLoginFailure(reason)
		return h.renderLogin(w, r, rq, status, d)
	}
	if err != nil {
		return err
	}
	if rq.now.Before(a.LockedUntil) {
		_, _ = VerifyPassword(password, dummyHash)
		h.d.OnLoginFailure("locked")
		d.Message, d.Locked = "login_locked", a.LockedUntil.Format(time.RFC3339)
		return h.renderLogin(w, r, rq, http.StatusTooManyRequests, d)
	}
	ok, err := VerifyPassword(password, a.PasswordHash)
	if err != nil {
		return err
	}
	reason := "password"
	if ok && a.TOTPSecret != "" && !VerifyTOTP(a.TOTPSecret, r.PostFormValue("code"), rq.now) {
		ok, reason = false, "totp"
	}
	if !ok {
		h.d.OnLoginFailure(reason)
		n, err := h.d.Store.RecordLoginFailure(r.Context(), a.ID, LockoutAfter, rq.now.Add(LockoutFor))
		if err != nil {
			return err
		}
		h.log.Warn("console sign-in refused", "admin", a.Name, "reason", reason, "failures", n, "ip", h.clientIP(r))
		d.Message = "login_wrong"
		if reason == "totp" {
			d.Message = "login_wrong_code"
		}
		if n >= LockoutAfter {
			d.Message, d.Locked = "login_locked", rq.now.Add(LockoutFor).Format(time.RFC3339)
			return h.renderLogin(w, r, rq, http.StatusTooManyRequests, d)
		}
		return h.renderLogin(w, r, rq, http.StatusUnauthorized, d)
	}
	if err := h.d.Store.ResetLoginFailures(r.Context(), a.ID); err != nil {
		return err
	}
	// A fresh session id at every sign-in (no fixation); an old session of
	// this browser ends.
	if old, err := r.Cookie(sessionCookie); err == nil && old.Value != "" {
		_ = h.d.Store.DeleteAdminSession(r.Context(), hashToken(old.Value))
	}
	tok := randomToken()
	s := store.AdminSession{IDHash: hashToken(tok), AdminID: a.ID, CSRF: randomToken(), CreatedAt: rq.now, LastSeenAt: rq.now,
		ExpiresAt: rq.now.Add(h.cfg.SessionMax)}
	if err := h.d.Store.CreateAdminSession(r.Context(), s); err != nil {
		return err
	}
	h.setCookie(w, r, sessionCookie, tok, int(h.cfg.SessionMax/time.Second))
	h.setCookie(w, r, loginCookie, "", -1)
	rq.admin = a
	h.audit(r, rq, "session.sign_in", a.ID, "")
	next := d.Next
	if next == "" {
		next = "/"
	}
	http.Redirect(w, r, h.cfg.Path+next, http.StatusSeeOther)
	return nil
}

// logout is POST /logout: ends this session.
func (h *Handler) logout(w http.ResponseWriter, r *http.Request, rq *request) error {
	if err := h.d.Store.DeleteAdminSession(r.Context(), rq.sess.IDHash); err != nil {
		return err
	}
	h.setCookie(w, r, sessionCookie, "", -1)
	http.Redirect(w, r, h.cfg.Path+"/login?m=out", http.StatusSeeOther)
	return nil
}

// logoutAll is POST /logout-all: ends every session of this admin.
func (h *Handler) logoutAll(w http.ResponseWriter, r *http.Request, rq *request) error {
	if err := h.d.Store.DeleteAdminSessions(r.Context(), rq.admin.ID); err != nil {
		return err
	}
	h.audit(r, rq, "session.sign_out_everywhere", rq.admin.ID, "")
	h.setCookie(w, r, sessionCookie, "", -1)
	http.Redirect(w, r, h.cfg.Path+"/login?m=out", http.StatusSeeOther)
	return nil
}
