package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// loadResult is one fixed-time run of concurrent invoice creations.
type loadResult struct {
	Rate   float64 // successful creations per second
	Count  int     // successful creations
	P50    time.Duration
	P99    time.Duration
	Errors int
	First  string // first error
}

// createLoad runs clients concurrent keep-alive clients, each creating
// invoices back to back for d, against the daemon.
func createLoad(dm *daemon, clients int, d time.Duration, body func(i int64) []byte) loadResult {
	tr := &http.Transport{MaxIdleConnsPerHost: clients * 2, MaxIdleConns: clients * 2, DisableCompression: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var (
		mu    sync.Mutex
		lats  []time.Duration
		errs  int
		first string
		late  int
		seq   atomic.Int64
		wg    sync.WaitGroup
	)
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	start := time.Now()
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for ctx.Err() == nil {
				b := body(seq.Add(1))
				req, _ := http.NewRequest("POST", dm.url+"/v1/invoices", bytes.NewReader(b))
				req.Header.Set("Authorization", "Bearer "+dm.key)
				req.Header.Set("Content-Type", "application/json")
				t0 := time.Now()
				resp, err := c.Do(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 201 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				lat := time.Since(t0)
				if err != nil {
					mu.Lock()
					errs++
					if first == "" {
						first = err.Error()
					}
					mu.Unlock()
					continue
				}
				if time.Since(start) <= d {
					mine = append(mine, lat)
				} else {
					mu.Lock()
					late++
					mu.Unlock()
				}
			}
			mu.Lock()
			lats = append(lats, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	el := time.Since(start)
	return loadResult{Count: len(lats) + late, Rate: float64(len(lats)) / el.Seconds(), P50: percentile(lats, 50), P99: percentile(lats, 99), Errors: errs, First: first}
}
