// Package rates prices one unit of an asset in another currency ("1 BTC = 60630.12 USD")
// for invoice creation, without ever making a shop wait on, or depend on, one rate
// provider.
//
// It owns: the Source interface and its implementations (CoinGecko, Kraken, Coinbase,
// Binance public ticker APIs, and a Static table from config); the Service that
// refreshes a cache in the background, aggregates answers per pair (median of the fresh
// answers, or the first fresh answer in a configured order), rejects absurd values
// (zero, negative, 100× away from the others or from the source's last accepted
// value), applies stablecoin pegs and crosses through USD when a direct pair is
// missing; and ApplySpread for a per-method markup.
//
// Rates are exact decimals: *big.Rat inside, decimal strings at the edges. Provider
// numbers are parsed from their JSON text, never through float64.
//
// It imports nothing of payd's and nothing outside the standard library. It does not
// know invoices, assets' decimals, methods or the database: the service package asks
// Service.Rate for a price at invoice creation and stores Rate.String(), Rate.Source
// and Rate.Time on the invoice. It never contacts a provider during a test: tests run
// against 127.0.0.1 httptest servers serving fixtures from testdata/.
package rates
