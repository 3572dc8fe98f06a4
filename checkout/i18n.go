package checkout

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// languages payd's checkout is translated into, in the order the language
// switcher shows them.
var languages = []string{"en", "ru", "id"}

// languageNames are the languages' own names for the switcher.
var languageNames = map[string]string{"en": "English", "ru": "Русский", "id": "Bahasa Indonesia"}

// catalog holds every string of the page per language. Arguments are
// fmt verbs; a test checks that every language has every key of "en" with
// the same verbs.
var catalog = map[string]map[string]string{
	"en": {
		"default_store":      "Checkout",
		"title_pay":          "Pay %s",
		"invoice_label":      "Invoice",
		"order_label":        "Order",
		"amount_label":       "Amount",
		"paid_label":         "Paid so far",
		"choose_method":      "Choose how to pay",
		"network_of":         "%s on %s",
		"pay_with":           "Pay with %s",
		"network_label":      "Network",
		"send_exactly":       "Send exactly",
		"to_address":         "To this address",
		"token_contract":     "Token contract",
		"copy":               "Copy",
		"copy_amount":        "Copy amount",
		"copy_address":       "Copy address",
		"copied":             "Copied",
		"copy_failed":        "Could not copy; select the text and copy it yourself",
		"open_wallet":        "Open in wallet",
		"qr_alt":             "QR code to pay %s to %s",
		"network_warning":    "Send only %s on the %s network to this address. Coins or tokens sent on another network are lost.",
		"state_waiting":      "Waiting for payment",
		"waiting_text":       "Scan the QR code with your wallet or copy the address and the exact amount.",
		"time_left":          "Time left",
		"expires_at":         "Pay before %s",
		"time_up":            "Time is up",
		"state_partial":      "Partially paid",
		"partial_text":       "Received %s of %s. Send %s more to the same address.",
		"state_processing":   "Payment received",
		"processing_text":    "Your payment is being confirmed by the network. You can close this page; the store is notified when it is confirmed.",
		"payments_label":     "Payments",
		"confirmations":      "Confirmations: %d of %d",
		"seen_unconfirmed":   "Seen, not yet in a block",
		"payment_pending":    "pending",
		"payment_confirmed":  "confirmed",
		"payment_orphaned":   "removed by a chain reorganisation",
		"payment_replaced":   "replaced",
		"state_settled":      "Paid",
		"settled_text":       "Thank you! Your payment is confirmed.",
		"overpaid_text":      "You sent more than was due. Contact the store about the difference, quoting invoice %s.",
		"return_to_store":    "Return to %s",
		"state_expired":      "Invoice expired",
		"expired_text":       "This invoice has expired. Do not send a payment to it.",
		"expired_late":       "If you sent a payment just now, it is still being watched for: contact the store and quote invoice %s.",
		"expired_underpaid":  "Only %s arrived before the invoice expired. Contact the store and quote invoice %s to get a refund or complete the order.",
		"expired_paid_late":  "Your payment arrived after the invoice expired. Contact the store and quote invoice %s: they can accept it or refund it.",
		"state_invalid":      "Invoice invalid",
		"invalid_text":       "The payment for this invoice could not be confirmed. Contact the store and quote invoice %s.",
		"refresh_note":       "This page refreshes every %d seconds.",
		"language_label":     "Language",
		"not_found_title":    "Invoice not found",
		"not_found_text":     "This payment link is wrong or the invoice does not exist. Check the link the store gave you.",
		"gone_title":         "Link no longer available",
		"gone_text":          "This payment link has expired or was used up. Ask the store for a new one.",
		"rate_limited_title": "Too many requests",
		"rate_limited_text":  "Please wait a minute and try again.",
		"error_title":        "Something went wrong",
		"error_text":         "Please try again in a moment.",
	},
	"ru": {
		"default_store":      "Оплата",
		"title_pay":          "Оплата: %s",
		"invoice_label":      "Счёт",
		"order_label":        "Заказ",
		"amount_label":       "Сумма",
		"paid_label":         "Уже оплачено",
		"choose_method":      "Выберите способ оплаты",
		"network_of":         "%s в сети %s",
		"pay_with":           "Оплатить в %s",
		"network_label":      "Сеть",
		"send_exactly":       "Отправьте ровно",
		"to_address":         "На этот адрес",
		"token_contract":     "Контракт токена",
		"copy":               "Копировать",
		"copy_amount":        "Копировать сумму",
		"copy_address":       "Копировать адрес",
		"copied":             "Скопировано",
		"copy_failed":        "Не удалось скопировать; выделите текст и скопируйте его вручную",
		"open_wallet":        "Открыть в кошельке",
		"qr_alt":             "QR-код для оплаты %s на адрес %s",
		"network_warning":    "Отправляйте на этот адрес только %s в сети %s. Монеты и токены, отправленные через другую сеть, будут потеряны.",
		"state_waiting":      "Ожидаем оплату",
		"waiting_text":       "Отсканируйте QR-код кошельком или скопируйте адрес и точную сумму.",
		"time_left":          "Осталось времени",
		"expires_at":         "Оплатите до %s",
		"time_up":            "Время вышло",
		"state_partial":      "Оплачено частично",
		"partial_text":       "Получено %s из %s. Отправьте ещё %s на тот же адрес.",
		"state_processing":   "Платёж получен",
		"processing_text":    "Сеть подтверждает ваш платёж. Страницу можно закрыть: магазин получит уведомление после подтверждения.",
		"payments_label":     "Платежи",
		"confirmations":      "Подтверждений: %d из %d",
		"seen_unconfirmed":   "Замечен, ещё не в блоке",
		"payment_pending":    "ожидает подтверждения",
		"payment_confirmed":  "подтверждён",
		"payment_orphaned":   "удалён реорганизацией сети",
		"payment_replaced":   "заменён",
		"state_settled":      "Оплачено",
		"settled_text":       "Спасибо! Ваш платёж подтверждён.",
		"overpaid_text":      "Вы отправили больше, чем нужно. Свяжитесь с магазином насчёт разницы и укажите счёт %s.",
		"return_to_store":    "Вернуться в %s",
		"state_expired":      "Срок счёта истёк",
		"expired_text":       "Срок действия этого счёта истёк. Не отправляйте по нему платежи.",
		"expired_late":       "Если вы только что отправили платёж, мы его ещё отслеживаем: свяжитесь с магазином и укажите счёт %s.",
		"expired_underpaid":  "До истечения срока пришло только %s. Свяжитесь с магазином и укажите счёт %s, чтобы получить возврат или завершить заказ.",
		"expired_paid_late":  "Ваш платёж пришёл после истечения срока счёта. Свяжитесь с магазином и укажите счёт %s: его могут принять или вернуть.",
		"state_invalid":      "Счёт недействителен",
		"invalid_text":       "Платёж по этому счёту не удалось подтвердить. Свяжитесь с магазином и укажите счёт %s.",
		"refresh_note":       "Страница обновляется каждые %d с.",
		"language_label":     "Язык",
		"not_found_title":    "Счёт не найден",
		"not_found_text":     "Ссылка на оплату неверна или счёт не существует. Проверьте ссылку, которую дал магазин.",
		"gone_title":         "Ссылка больше не действует",
		"gone_text":          "Срок действия ссылки на оплату истёк или она уже использована. Попросите у магазина новую.",
		"rate_limited_title": "Слишком много запросов",
		"rate_limited_text":  "Подождите минуту и попробуйте снова.",
		"error_title":        "Что-то пошло не так",
		"error_text":         "Попробуйте ещё раз через минуту.",
	},
	"id": {
		"default_store":      "Pembayaran",
		"title_pay":          "Bayar %s",
		"invoice_label":      "Tagihan",
		"order_label":        "Pesanan",
		"amount_label":       "Jumlah",
		"paid_label":         "Sudah dibayar",
		"choose_method":      "Pilih cara membayar",
		"network_of":         "%s di jaringan %s",
		"pay_with":           "Bayar dengan %s",
		"network_label":      "Jaringan",
		"send_exactly":       "Kirim tepat",
		"to_address":         "Ke alamat ini",
		"token_contract":     "Kontrak token",
		"copy":               "Salin",
		"copy_amount":        "Salin jumlah",
		"copy_address":       "Salin alamat",
		"copied":             "Tersalin",
		"copy_failed":        "Gagal menyalin; pilih teksnya dan salin sendiri",
		"open_wallet":        "Buka di dompet",
		"qr_alt":             "Kode QR untuk membayar %s ke %s",
		"network_warning":    "Kirim hanya %s di jaringan %s ke alamat ini. Koin atau token yang dikirim lewat jaringan lain akan hilang.",
		"state_waiting":      "Menunggu pembayaran",
		"waiting_text":       "Pindai kode QR dengan dompet Anda atau salin alamat dan jumlah yang tepat.",
		"time_left":          "Sisa waktu",
		"expires_at":         "Bayar sebelum %s",
		"time_up":            "Waktu habis",
		"state_partial":      "Dibayar sebagian",
		"partial_text":       "Diterima %s dari %s. Kirim %s lagi ke alamat yang sama.",
		"state_processing":   "Pembayaran diterima",
		"processing_text":    "Pembayaran Anda sedang dikonfirmasi jaringan. Anda boleh menutup halaman ini; toko diberi tahu setelah terkonfirmasi.",
		"payments_label":     "Pembayaran",
		"confirmations":      "Konfirmasi: %d dari %d",
		"seen_unconfirmed":   "Terlihat, belum masuk blok",
		"payment_pending":    "menunggu",
		"payment_confirmed":  "terkonfirmasi",
		"payment_orphaned":   "dihapus oleh reorganisasi rantai",
		"payment_replaced":   "diganti",
		"state_settled":      "Lunas",
		"settled_text":       "Terima kasih! Pembayaran Anda sudah terkonfirmasi.",
		"overpaid_text":      "Anda mengirim lebih dari yang ditagih. Hubungi toko soal selisihnya dengan menyebut tagihan %s.",
		"return_to_store":    "Kembali ke %s",
		"state_expired":      "Tagihan kedaluwarsa",
		"expired_text":       "Tagihan ini sudah kedaluwarsa. Jangan kirim pembayaran ke sini.",
		"expired_late":       "Jika Anda baru saja mengirim pembayaran, pembayaran itu masih dipantau: hubungi toko dan sebutkan tagihan %s.",
		"expired_underpaid":  "Hanya %s yang masuk sebelum tagihan kedaluwarsa. Hubungi toko dan sebutkan tagihan %s untuk pengembalian dana atau menyelesaikan pesanan.",
		"expired_paid_late":  "Pembayaran Anda masuk setelah tagihan kedaluwarsa. Hubungi toko dan sebutkan tagihan %s: toko dapat menerimanya atau mengembalikannya.",
		"state_invalid":      "Tagihan tidak valid",
		"invalid_text":       "Pembayaran untuk tagihan ini tidak dapat dikonfirmasi. Hubungi toko dan sebutkan tagihan %s.",
		"refresh_note":       "Halaman ini dimuat ulang setiap %d detik.",
		"language_label":     "Bahasa",
		"not_found_title":    "Tagihan tidak ditemukan",
		"not_found_text":     "Tautan pembayaran ini salah atau tagihannya tidak ada. Periksa tautan yang diberikan toko.",
		"gone_title":         "Tautan tidak tersedia lagi",
		"gone_text":          "Tautan pembayaran ini sudah kedaluwarsa atau habis dipakai. Minta tautan baru ke toko.",
		"rate_limited_title": "Terlalu banyak permintaan",
		"rate_limited_text":  "Tunggu sebentar lalu coba lagi.",
		"error_title":        "Terjadi kesalahan",
		"error_text":         "Silakan coba lagi sebentar lagi.",
	},
}

// locale translates strings into one language.
type locale struct {
	Lang    string
	strings map[string]string
}

// T returns the translation of key formatted with args; a missing key is
// returned as is (the catalog test keeps that from happening).
func (l *locale) T(key string, args ...any) string {
	s, ok := l.strings[key]
	if !ok {
		s, ok = catalog["en"][key]
		if !ok {
			return key
		}
	}
	if len(args) == 0 {
		return s
	}
	return fmt.Sprintf(s, args...)
}

func newLocale(lang string) *locale { return &locale{Lang: lang, strings: catalog[lang]} }

// locale picks the request's language: ?lang= first, then Accept-Language,
// then the configured default.
func (h *Handler) locale(r *http.Request) *locale {
	if l := normalizeLang(r.URL.Query().Get("lang")); l != "" {
		return newLocale(l)
	}
	if l := pickLanguage(r.Header.Get("Accept-Language")); l != "" {
		return newLocale(l)
	}
	return newLocale(h.cfg.Language)
}

// normalizeLang maps a language tag ("ru-RU", "in") to one of languages, or "".
func normalizeLang(tag string) string {
	tag = strings.ToLower(strings.TrimSpace(tag))
	primary, _, _ := strings.Cut(tag, "-")
	primary, _, _ = strings.Cut(primary, "_")
	if primary == "in" { // the old ISO 639 code for Indonesian
		primary = "id"
	}
	if _, ok := catalog[primary]; ok {
		return primary
	}
	return ""
}

// pickLanguage returns the supported language the Accept-Language header
// prefers most (highest q, first on ties), or "".
func pickLanguage(header string) string {
	best, bestQ := "", 0
	for _, part := range strings.Split(header, ",") {
		tag, params, _ := strings.Cut(part, ";")
		q := 1000
		for _, p := range strings.Split(params, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
			if ok && strings.EqualFold(k, "q") {
				q = parseQ(v)
			}
		}
		l := normalizeLang(tag)
		if l == "" || q <= bestQ {
			continue
		}
		best, bestQ = l, q
	}
	return best
}

// parseQ parses a quality value ("1", "0.8", "0.125") into thousandths.
func parseQ(v string) int {
	v = strings.TrimSpace(v)
	whole, frac, _ := strings.Cut(v, ".")
	if whole != "0" && whole != "1" || len(frac) > 3 {
		return 0
	}
	frac += strings.Repeat("0", 3-len(frac))
	n, err := strconv.Atoi(frac)
	if err != nil {
		return 0
	}
	if whole == "1" {
		return 1000
	}
	return n
}
