package dashboard

import (
	"encoding/base64"
	"html/template"
	"net/http"

	"github.com/skip2/go-qrcode"
)

type accountData struct {
	TOTP   bool
	Secret string       // a proposed secret while enabling
	QR     template.URL // its otpauth:// QR
	Error  string
}

// accountPage is GET /account: two-factor sign-in and sign-out everywhere.
func (h *Handler) accountPage(w http.ResponseWriter, r *http.Request, rq *request) error {
	d := &accountData{TOTP: rq.admin.TOTPSecret != ""}
	if !d.TOTP {
		s, err := NewTOTPSecret()
		if err != nil {
			return err
		}
		h.proposeTOTP(d, rq, s)
	}
	h.render(w, r, rq, "account", http.StatusOK, d)
	return nil
}

func (h *Handler) proposeTOTP(d *accountData, rq *request, secret string) {
	d.Secret = secret
	if png, err := qrcode.Encode(totpURI("payd", rq.admin.Name, secret), qrcode.Medium, 200); err == nil {
		d.QR = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))
	}
}

// accountTOTP is POST /account/totp: action=enable (secret + a current code
// proving the app has it) or action=disable (a current code).
func (h *Handler) accountTOTP(w http.ResponseWriter, r *http.Request, rq *request) error {
	code := r.PostFormValue("code")
	switch r.PostFormValue("action") {
	case "enable":
		secret := r.PostFormValue("secret")
		if rq.admin.TOTPSecret != "" {
			return h.redirect(w, r, "/account", "")
		}
		if !VerifyTOTP(secret, code, rq.now) {
			d := &accountData{Error: rq.loc.T("totp_wrong_code")}
			h.proposeTOTP(d, rq, secret)
			h.render(w, r, rq, "account", http.StatusBadRequest, d)
			return nil
		}
		if err := h.d.Store.SetAdminTOTP(r.Context(), rq.admin.ID, secret); err != nil {
			return err
		}
		h.audit(r, rq, "account.totp_enable", rq.admin.ID, "")
		return h.redirect(w, r, "/account", "totp_on")
	case "disable":
		if rq.admin.TOTPSecret == "" || !VerifyTOTP(rq.admin.TOTPSecret, code, rq.now) {
			h.render(w, r, rq, "account", http.StatusBadRequest, &accountData{TOTP: rq.admin.TOTPSecret != "", Error: rq.loc.T("totp_wrong_code")})
			return nil
		}
		if err := h.d.Store.SetAdminTOTP(r.Context(), rq.admin.ID, ""); err != nil {
			return err
		}
		h.audit(r, rq, "account.totp_disable", rq.admin.ID, "")
		return h.redirect(w, r, "/account", "totp_off")
	}
	return pageErr(http.StatusBadRequest, "err_bad_request")
}
