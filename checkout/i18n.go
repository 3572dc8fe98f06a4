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
		"default_store":         "Checkout",
		"title_pay":             "Pay %s",
		"invoice_label":         "Invoice",
		"order_label":           "Order",
		"amount_label":          "Amount",
		"paid_label":            "Paid so far",
		"choose_method":         "Choose how to pay",
		"network_of":            "%s on %s",
		"pay_with":              "Pay with %s",
		"network_label":         "Network",
		"send_exactly":          "Send exactly",
		"to_address":            "To this address",
		"token_contract":        "Token contract",
		"copy":                  "Copy",
		"copy_amount":           "Copy amount",
		"copy_address":          "Copy address",
		"copied":                "Copied",
		"copy_failed":           "Could not copy; select the text and copy it yourself",
		"open_wallet":           "Open in wallet",
		"qr_alt":                "QR code to pay %s to %s",
		"network_warning":       "Send only %s on the %s network to this address. Coins or tokens sent on another network are lost.",
		"state_waiting":         "Waiting for payment",
		"waiting_text":          "Scan the QR code with your wallet or copy the address and the exact amount.",
		"time_left":             "Time left",
		"expires_at":            "Pay before %s",
		"time_up":               "Time is up",
		"state_partial":         "Partially paid",
		"partial_text":          "Received %s of %s. Send %s more to the same address.",
		"state_processing":      "Payment received",
		"processing_text":       "Your payment is being confirmed by the network. You can close this page; the store is notified when it is confirmed.",
		"payments_label":        "Payments",
		"confirmations":         "Confirmations: %d of %d",
		"seen_unconfirmed":      "Seen, not yet in a block",
		"payment_pending":       "pending",
		"payment_confirmed":     "confirmed",
		"payment_orphaned":      "removed by a chain reorganisation",
		"payment_replaced":      "replaced",
		"state_settled":         "Paid",
		"settled_text":          "Thank you! Your payment is confirmed.",
		"overpaid_text":         "You sent more than was due. Contact the store about the difference, quoting invoice %s.",
		"return_to_store":       "Return to %s",
		"state_expired":         "Invoice expired",
		"expired_text":          "This invoice has expired. Do not send a payment to it.",
		"expired_late":          "If you sent a payment just now, it is still being watched for: contact the store and quote invoice %s.",
		"expired_underpaid":     "Only %s arrived before the invoice expired. Contact the store and quote invoice %s to get a refund or complete the order.",
		"expired_paid_late":     "Your payment arrived after the invoice expired. Contact the store and quote invoice %s: they can accept it or refund it.",
		"state_invalid":         "Invoice invalid",
		"invalid_text":          "The payment for this invoice could not be confirmed. Contact the store and quote invoice %s.",
		"refresh_note":          "This page refreshes every %d seconds.",
		"language_label":        "Language",
		"not_found_title":       "Invoice not found",
		"not_found_text":        "This payment link is wrong or the invoice does not exist. Check the link the store gave you.",
		"gone_title":            "Link no longer available",
		"gone_text":             "This payment link has expired or was used up. Ask the store for a new one.",
		"rate_limited_title":    "Too many requests",
		"rate_limited_text":     "Please wait a minute and try again.",
		"error_title":           "Something went wrong",
		"error_text":            "Please try again in a moment.",
		"claim_title":           "Refund of %s",
		"claim_amount_label":    "Refund",
		"claim_refund_label":    "Reference",
		"claim_address_label":   "Your address",
		"claim_state_form":      "Enter your refund address",
		"claim_text_form":       "The store is refunding you in %s. Enter an address of your own wallet to receive it.",
		"claim_expires":         "This link is valid until %s.",
		"claim_form_title":      "Your address",
		"claim_address_input":   "Your %s address",
		"claim_warning":         "Give an address for %s only. Funds sent to an address of another network are lost: check it against your wallet.",
		"claim_submit":          "Send me the refund",
		"claim_privacy":         "Only the store sees the whole address.",
		"claim_state_ready":     "Address received",
		"claim_text_ready":      "Thank you. Your refund is on its way: the store sends it from its wallet to the address you gave.",
		"claim_state_broadcast": "Refund sent",
		"claim_text_broadcast":  "The refund transaction is on the network, waiting for confirmations.",
		"claim_state_completed": "Refund completed",
		"claim_text_completed":  "The refund is confirmed by the network and is in your wallet.",
		"claim_state_canceled":  "Refund canceled",
		"claim_text_canceled":   "The store canceled this refund. Contact the store if you have questions.",
		"claim_state_expired":   "Link expired",
		"claim_text_expired":    "This refund link expired before an address was given. Contact the store for a new one.",
		"claim_stale_form":      "The form was out of date. Please send your address again.",
		"claim_not_found_title": "Refund not found",
		"claim_not_found_text":  "This refund link is wrong or the refund does not exist. Check the link the store gave you.",
		"addr_required":         "Enter your address.",
		"addr_network":          "This address is for another network. Give an address for %s.",
		"addr_checksum":         "This address has a typing error: its checksum does not match. Copy it again from your wallet.",
		"addr_eip55":            "The capital and small letters of this address do not match its checksum (EIP-55). Copy it again from your wallet.",
		"addr_ours":             "This is the store's own payment address. Give an address of your own wallet.",
		"addr_invalid":          "This is not a valid address for %s.",
	},
	"ru": {
		"default_store":         "Оплата",
		"title_pay":             "Оплата: %s",
		"invoice_label":         "Счёт",
		"order_label":           "Заказ",
		"amount_label":          "Сумма",
		"paid_label":            "Уже оплачено",
		"choose_method":         "Выберите способ оплаты",
		"network_of":            "%s в сети %s",
		"pay_with":              "Оплатить в %s",
		"network_label":         "Сеть",
		"send_exactly":          "Отправьте ровно",
		"to_address":            "На этот адрес",
		"token_contract":        "Контракт токена",
		"copy":                  "Копировать",
		"copy_amount":           "Копировать сумму",
		"copy_address":          "Копировать адрес",
		"copied":                "Скопировано",
		"copy_failed":           "Не удалось скопировать; выделите текст и скопируйте его вручную",
		"open_wallet":           "Открыть в кошельке",
		"qr_alt":                "QR-код для оплаты %s на адрес %s",
		"network_warning":       "Отправляйте на этот адрес только %s в сети %s. Монеты и токены, отправленные через другую сеть, будут потеряны.",
		"state_waiting":         "Ожидаем оплату",
		"waiting_text":          "Отсканируйте QR-код кошельком или скопируйте адрес и точную сумму.",
		"time_left":             "Осталось времени",
		"expires_at":            "Оплатите до %s",
		"time_up":               "Время вышло",
		"state_partial":         "Оплачено частично",
		"partial_text":          "Получено %s из %s. Отправьте ещё %s на тот же адрес.",
		"state_processing":      "Платёж получен",
		"processing_text":       "Сеть подтверждает ваш платёж. Страницу можно закрыть: магазин получит уведомление после подтверждения.",
		"payments_label":        "Платежи",
		"confirmations":         "Подтверждений: %d из %d",
		"seen_unconfirmed":      "Замечен, ещё не в блоке",
		"payment_pending":       "ожидает подтверждения",
		"payment_confirmed":     "подтверждён",
		"payment_orphaned":      "удалён реорганизацией сети",
		"payment_replaced":      "заменён",
		"state_settled":         "Оплачено",
		"settled_text":          "Спасибо! Ваш платёж подтверждён.",
		"overpaid_text":         "Вы отправили больше, чем нужно. Свяжитесь с магазином насчёт разницы и укажите счёт %s.",
		"return_to_store":       "Вернуться в %s",
		"state_expired":         "Срок счёта истёк",
		"expired_text":          "Срок действия этого счёта истёк. Не отправляйте по нему платежи.",
		"expired_late":          "Если вы только что отправили платёж, мы его ещё отслеживаем: свяжитесь с магазином и укажите счёт %s.",
		"expired_underpaid":     "До истечения срока пришло только %s. Свяжитесь с магазином и укажите счёт %s, чтобы получить возврат или завершить заказ.",
		"expired_paid_late":     "Ваш платёж пришёл после истечения срока счёта. Свяжитесь с магазином и укажите счёт %s: его могут принять или вернуть.",
		"state_invalid":         "Счёт недействителен",
		"invalid_text":          "Платёж по этому счёту не удалось подтвердить. Свяжитесь с магазином и укажите счёт %s.",
		"refresh_note":          "Страница обновляется каждые %d с.",
		"language_label":        "Язык",
		"not_found_title":       "Счёт не найден",
		"not_found_text":        "Ссылка на оплату неверна или счёт не существует. Проверьте ссылку, которую дал магазин.",
		"gone_title":            "Ссылка больше не действует",
		"gone_text":             "Срок действия ссылки на оплату истёк или она уже использована. Попросите у магазина новую.",
		"rate_limited_title":    "Слишком много запросов",
		"rate_limited_text":     "Подождите минуту и попробуйте снова.",
		"error_title":           "Что-то пошло не так",
		"error_text":            "Попробуйте ещё раз через минуту.",
		"claim_title":           "Возврат %s",
		"claim_amount_label":    "Возврат",
		"claim_refund_label":    "Номер",
		"claim_address_label":   "Ваш адрес",
		"claim_state_form":      "Укажите адрес для возврата",
		"claim_text_form":       "Магазин возвращает вам средства: %s. Укажите адрес своего кошелька, чтобы их получить.",
		"claim_expires":         "Ссылка действует до %s.",
		"claim_form_title":      "Ваш адрес",
		"claim_address_input":   "Ваш адрес для %s",
		"claim_warning":         "Укажите адрес только для %s. Средства, отправленные на адрес другой сети, будут потеряны: сверьте его с кошельком.",
		"claim_submit":          "Вернуть мне средства",
		"claim_privacy":         "Полный адрес видит только магазин.",
		"claim_state_ready":     "Адрес получен",
		"claim_text_ready":      "Спасибо. Возврат уже в пути: магазин отправит его из своего кошелька на указанный вами адрес.",
		"claim_state_broadcast": "Возврат отправлен",
		"claim_text_broadcast":  "Транзакция возврата в сети и ждёт подтверждений.",
		"claim_state_completed": "Возврат завершён",
		"claim_text_completed":  "Сеть подтвердила возврат, средства в вашем кошельке.",
		"claim_state_canceled":  "Возврат отменён",
		"claim_text_canceled":   "Магазин отменил этот возврат. Если есть вопросы, свяжитесь с магазином.",
		"claim_state_expired":   "Срок ссылки истёк",
		"claim_text_expired":    "Срок ссылки на возврат истёк до того, как был указан адрес. Попросите у магазина новую.",
		"claim_stale_form":      "Форма устарела. Отправьте адрес ещё раз.",
		"claim_not_found_title": "Возврат не найден",
		"claim_not_found_text":  "Ссылка на возврат неверна или возврат не существует. Проверьте ссылку, которую дал магазин.",
		"addr_required":         "Укажите адрес.",
		"addr_network":          "Этот адрес из другой сети. Укажите адрес для %s.",
		"addr_checksum":         "В адресе опечатка: не сходится контрольная сумма. Скопируйте его из кошелька ещё раз.",
		"addr_eip55":            "Заглавные и строчные буквы адреса не сходятся с его контрольной суммой (EIP-55). Скопируйте его из кошелька ещё раз.",
		"addr_ours":             "Это платёжный адрес самого магазина. Укажите адрес своего кошелька.",
		"addr_invalid":          "Это не адрес для %s.",
	},
	"id": {
		"default_store":         "Pembayaran",
		"title_pay":             "Bayar %s",
		"invoice_label":         "Tagihan",
		"order_label":           "Pesanan",
		"amount_label":          "Jumlah",
		"paid_label":            "Sudah dibayar",
		"choose_method":         "Pilih cara membayar",
		"network_of":            "%s di jaringan %s",
		"pay_with":              "Bayar dengan %s",
		"network_label":         "Jaringan",
		"send_exactly":          "Kirim tepat",
		"to_address":            "Ke alamat ini",
		"token_contract":        "Kontrak token",
		"copy":                  "Salin",
		"copy_amount":           "Salin jumlah",
		"copy_address":          "Salin alamat",
		"copied":                "Tersalin",
		"copy_failed":           "Gagal menyalin; pilih teksnya dan salin sendiri",
		"open_wallet":           "Buka di dompet",
		"qr_alt":                "Kode QR untuk membayar %s ke %s",
		"network_warning":       "Kirim hanya %s di jaringan %s ke alamat ini. Koin atau token yang dikirim lewat jaringan lain akan hilang.",
		"state_waiting":         "Menunggu pembayaran",
		"waiting_text":          "Pindai kode QR dengan dompet Anda atau salin alamat dan jumlah yang tepat.",
		"time_left":             "Sisa waktu",
		"expires_at":            "Bayar sebelum %s",
		"time_up":               "Waktu habis",
		"state_partial":         "Dibayar sebagian",
		"partial_text":          "Diterima %s dari %s. Kirim %s lagi ke alamat yang sama.",
		"state_processing":      "Pembayaran diterima",
		"processing_text":       "Pembayaran Anda sedang dikonfirmasi jaringan. Anda boleh menutup halaman ini; toko diberi tahu setelah terkonfirmasi.",
		"payments_label":        "Pembayaran",
		"confirmations":         "Konfirmasi: %d dari %d",
		"seen_unconfirmed":      "Terlihat, belum masuk blok",
		"payment_pending":       "menunggu",
		"payment_confirmed":     "terkonfirmasi",
		"payment_orphaned":      "dihapus oleh reorganisasi rantai",
		"payment_replaced":      "diganti",
		"state_settled":         "Lunas",
		"settled_text":          "Terima kasih! Pembayaran Anda sudah terkonfirmasi.",
		"overpaid_text":         "Anda mengirim lebih dari yang ditagih. Hubungi toko soal selisihnya dengan menyebut tagihan %s.",
		"return_to_store":       "Kembali ke %s",
		"state_expired":         "Tagihan kedaluwarsa",
		"expired_text":          "Tagihan ini sudah kedaluwarsa. Jangan kirim pembayaran ke sini.",
		"expired_late":          "Jika Anda baru saja mengirim pembayaran, pembayaran itu masih dipantau: hubungi toko dan sebutkan tagihan %s.",
		"expired_underpaid":     "Hanya %s yang masuk sebelum tagihan kedaluwarsa. Hubungi toko dan sebutkan tagihan %s untuk pengembalian dana atau menyelesaikan pesanan.",
		"expired_paid_late":     "Pembayaran Anda masuk setelah tagihan kedaluwarsa. Hubungi toko dan sebutkan tagihan %s: toko dapat menerimanya atau mengembalikannya.",
		"state_invalid":         "Tagihan tidak valid",
		"invalid_text":          "Pembayaran untuk tagihan ini tidak dapat dikonfirmasi. Hubungi toko dan sebutkan tagihan %s.",
		"refresh_note":          "Halaman ini dimuat ulang setiap %d detik.",
		"language_label":        "Bahasa",
		"not_found_title":       "Tagihan tidak ditemukan",
		"not_found_text":        "Tautan pembayaran ini salah atau tagihannya tidak ada. Periksa tautan yang diberikan toko.",
		"gone_title":            "Tautan tidak tersedia lagi",
		"gone_text":             "Tautan pembayaran ini sudah kedaluwarsa atau habis dipakai. Minta tautan baru ke toko.",
		"rate_limited_title":    "Terlalu banyak permintaan",
		"rate_limited_text":     "Tunggu sebentar lalu coba lagi.",
		"error_title":           "Terjadi kesalahan",
		"error_text":            "Silakan coba lagi sebentar lagi.",
		"claim_title":           "Pengembalian dana %s",
		"claim_amount_label":    "Pengembalian dana",
		"claim_refund_label":    "Referensi",
		"claim_address_label":   "Alamat Anda",
		"claim_state_form":      "Masukkan alamat pengembalian dana",
		"claim_text_form":       "Toko mengembalikan dana Anda dalam %s. Masukkan alamat dompet Anda sendiri untuk menerimanya.",
		"claim_expires":         "Tautan ini berlaku sampai %s.",
		"claim_form_title":      "Alamat Anda",
		"claim_address_input":   "Alamat %s Anda",
		"claim_warning":         "Berikan alamat untuk %s saja. Dana yang dikirim ke alamat jaringan lain akan hilang: cocokkan dengan dompet Anda.",
		"claim_submit":          "Kirim pengembalian dana",
		"claim_privacy":         "Hanya toko yang melihat alamat lengkapnya.",
		"claim_state_ready":     "Alamat diterima",
		"claim_text_ready":      "Terima kasih. Pengembalian dana sedang diproses: toko mengirimnya dari dompetnya ke alamat yang Anda berikan.",
		"claim_state_broadcast": "Pengembalian dana terkirim",
		"claim_text_broadcast":  "Transaksi pengembalian dana sudah di jaringan dan menunggu konfirmasi.",
		"claim_state_completed": "Pengembalian dana selesai",
		"claim_text_completed":  "Pengembalian dana sudah dikonfirmasi jaringan dan ada di dompet Anda.",
		"claim_state_canceled":  "Pengembalian dana dibatalkan",
		"claim_text_canceled":   "Toko membatalkan pengembalian dana ini. Hubungi toko jika ada pertanyaan.",
		"claim_state_expired":   "Tautan kedaluwarsa",
		"claim_text_expired":    "Tautan pengembalian dana ini kedaluwarsa sebelum alamat diberikan. Minta tautan baru ke toko.",
		"claim_stale_form":      "Formulir sudah usang. Kirim alamat Anda sekali lagi.",
		"claim_not_found_title": "Pengembalian dana tidak ditemukan",
		"claim_not_found_text":  "Tautan pengembalian dana ini salah atau tidak ada. Periksa tautan yang diberikan toko.",
		"addr_required":         "Masukkan alamat Anda.",
		"addr_network":          "Alamat ini untuk jaringan lain. Berikan alamat untuk %s.",
		"addr_checksum":         "Alamat ini salah ketik: checksum-nya tidak cocok. Salin lagi dari dompet Anda.",
		"addr_eip55":            "Huruf besar dan kecil alamat ini tidak cocok dengan checksum-nya (EIP-55). Salin lagi dari dompet Anda.",
		"addr_ours":             "Ini alamat pembayaran milik toko. Berikan alamat dompet Anda sendiri.",
		"addr_invalid":          "Ini bukan alamat yang valid untuk %s.",
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
