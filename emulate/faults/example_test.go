package faults_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/billsync/billsync/emulate/faults"
)

func Example() {
	emulator := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "{}") })
	cfg, err := faults.Parse("seed=1;lock:path=/services/data/,method=PATCH,code=UNABLE_TO_LOCK_ROW")
	if err != nil {
		fmt.Println(err)
		return
	}
	inj := faults.New(cfg, faults.SalesforceFormat, nil, nil)
	srv := httptest.NewServer(inj.Wrap(emulator))
	defer srv.Close()

	req, _ := http.NewRequest("PATCH", srv.URL+"/services/data/v62.0/sobjects/Account/001000000000001AAA", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, string(body))
	fmt.Println(inj.Counts())
	// Output:
	// 400 [{"message":"unable to obtain exclusive access to this record","errorCode":"UNABLE_TO_LOCK_ROW","fields":[]}]
	// map[lock:1]
}
