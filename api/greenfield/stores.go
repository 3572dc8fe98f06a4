package greenfield

import (
	"net/http"
	"strings"

	"github.com/payd/payd/internal/apikey"
)

// Permissions a key carries, by payd scope. A key with all four scopes
// (payd apikey create --greenfield) lists exactly the five permissions the
// WooCommerce plugin requires; it rejects any extra one, so
// btcpay.store.cancreatenonapprovedpullpayments waits until refunds exist.
var permissions = []struct{ scope, perm string }{
	{apikey.ScopeInvoicesRead, "btcpay.store.canviewinvoices"},
	{apikey.ScopeInvoicesWrite, "btcpay.store.cancreateinvoice"},
	{apikey.ScopeInvoicesWrite, "btcpay.store.canmodifyinvoices"},
	{apikey.ScopeWebhooksWrite, "btcpay.store.webhooks.canmodifywebhooks"},
	{"", "btcpay.store.canviewstoresettings"},
}

func permissionFor(scope string) string {
	for _, p := range permissions {
		if p.scope == scope {
			return p.perm
		}
	}
	return "btcpay.store.canviewstoresettings"
}

// Permissions returns the Greenfield permissions of a key, each suffixed
// ":<storeId>".
func (a *API) Permissions(k apikey.Key) []string {
	out := []string{}
	for _, p := range permissions {
		if p.scope == "" || k.Has(p.scope) {
			out = append(out, p.perm+":"+a.cfg.StoreID)
		}
	}
	return out
}

// currentKey is GET /api/v1/api-keys/current.
func (a *API) currentKey(w http.ResponseWriter, r *http.Request, k apikey.Key) error {
	_, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	writeJSON(w, http.StatusOK, struct {
		APIKey      string   `json:"apiKey"`
		Label       string   `json:"label"`
		Permissions []string `json:"permissions"`
	}{strings.TrimSpace(tok), k.Name, a.Permissions(k)})
	return nil
}

type syncStatus struct {
	PaymentMethodID string  `json:"paymentMethodId"`
	CryptoCode      string  `json:"cryptoCode"`
	ChainHeight     uint64  `json:"chainHeight"`
	SyncHeight      *uint64 `json:"syncHeight"`
	NodeInformation any     `json:"nodeInformation"`
	Available       bool    `json:"available"`
}

// serverInfo is GET /api/v1/server/info.
func (a *API) serverInfo(w http.ResponseWriter, r *http.Request, _ apikey.Key) error {
	ids := []string{}
	for _, m := range a.methods {
		ids = append(ids, m.ID)
	}
	synced := true
	if a.d.Ready != nil {
		synced = len(a.d.Ready(r.Context())) == 0
	}
	st := []syncStatus{}
	if a.d.Chains != nil {
		for _, c := range a.d.Chains() {
			for _, m := range a.methods {
				if m.Chain == c.Chain {
					h := c.Processed
					st = append(st, syncStatus{PaymentMethodID: m.ID, CryptoCode: m.Asset, ChainHeight: c.TipHeight, SyncHeight: &h, Available: c.Ready})
				}
			}
		}
	}
	writeJSON(w, http.StatusOK, struct {
		Version                 string       `json:"version"`
		PaydVersion             string       `json:"paydVersion"`
		Onion                   *string      `json:"onion"`
		SupportedPaymentMethods []string     `json:"supportedPaymentMethods"`
		FullySynched            bool         `json:"fullySynched"`
		SyncStatus              []syncStatus `json:"syncStatus"`
	}{BTCPayVersion, a.cfg.Version, nil, ids, synced, st})
	return nil
}

// storeView is Greenfield's StoreData (the fields plugins read, and the
// store defaults payd applies).
type storeView struct {
	ID                   string  `json:"id"`
	Name                 string  `json:"name"`
	Website              *string `json:"website"`
	DefaultCurrency      string  `json:"defaultCurrency"`
	InvoiceExpiration    int64   `json:"invoiceExpiration"`
	MonitoringExpiration int64   `json:"monitoringExpiration"`
	DisplayExpirationMin int64   `json:"displayExpirationTimer"`
	SpeedPolicy          string  `json:"speedPolicy"`
	PaymentTolerance     any     `json:"paymentTolerance"`
	DefaultLang          string  `json:"defaultLang"`
	CheckoutType         string  `json:"checkoutType"`
	AnyoneCanCreate      bool    `json:"anyoneCanCreateInvoice"`
	RequiresRefundEmail  bool    `json:"requiresRefundEmail"`
	LazyPaymentMethods   bool    `json:"lazyPaymentMethods"`
	Archived             bool    `json:"archived"`
}

func (a *API) storeView() storeView {
	return storeView{ID: a.cfg.StoreID, Name: a.cfg.StoreName, DefaultCurrency: a.cfg.DefaultCurrency,
		InvoiceExpiration: int64(a.cfg.ExpiresIn.Seconds()), MonitoringExpiration: int64(a.cfg.MonitoringWindow.Seconds()),
		DisplayExpirationMin: 300, SpeedPolicy: "MediumSpeed",
		PaymentTolerance: jsonNumber(ratString(bigRat(a.cfg.ToleranceBP, 100), 2)), DefaultLang: "en", CheckoutType: "V2"}
}

// stores is GET /api/v1/stores: the one store.
func (a *API) stores(w http.ResponseWriter, _ *http.Request, _ apikey.Key) error {
	writeJSON(w, http.StatusOK, []storeView{a.storeView()})
	return nil
}

// getStore is GET /api/v1/stores/{storeId}.
func (a *API) getStore(w http.ResponseWriter, _ *http.Request, _ apikey.Key) error {
	writeJSON(w, http.StatusOK, a.storeView())
	return nil
}

// storeMethods is GET /api/v1/stores/{storeId}/payment-methods: BTCPay
// 2.0's list, with 1.x's paymentMethod and cryptoCode beside paymentMethodId.
func (a *API) storeMethods(w http.ResponseWriter, _ *http.Request, _ apikey.Key) error {
	type pm struct {
		PaymentMethodID string `json:"paymentMethodId"`
		PaymentMethod   string `json:"paymentMethod"`
		CryptoCode      string `json:"cryptoCode"`
		Enabled         bool   `json:"enabled"`
		Config          any    `json:"config"`
	}
	out := []pm{}
	for _, m := range a.methods {
		out = append(out, pm{PaymentMethodID: m.ID, PaymentMethod: m.ID, CryptoCode: m.Asset, Enabled: true})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
