package client_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/payd/payd/client"
)

// Create an invoice for 25 USD payable in BTC and send the buyer to its
// checkout page; repeating the call with the same idempotency key after a
// network error returns the same invoice.
func ExampleClient_CreateInvoice() {
	c := client.New("http://127.0.0.1:8080", os.Getenv("PAYD_API_KEY"))
	inv, err := c.CreateInvoice(context.Background(), client.CreateInvoiceRequest{
		Amount:   "25.00",
		Currency: "USD",
		Methods:  []string{"bitcoin/btc"},
		OrderID:  "A-1001",
	}, "order-A-1001")
	if client.IsCode(err, "no_rate") {
		log.Fatal("no exchange rate right now; try again later")
	}
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(inv.CheckoutURL)
}
