package api

import (
	"fmt"
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if testing.Verbose() {
		fmt.Printf("openapi: validated %d responses\n", validated.Load())
	}
	os.Exit(code)
}
