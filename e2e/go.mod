module github.com/go-voting-app/voting-app/e2e

go 1.26.0

require (
	github.com/chromedp/chromedp v0.23.0
	github.com/go-voting-app/voting-app/platform v0.0.0
	github.com/go-voting-app/voting-app/testkit v0.0.0
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/chromedp/cdproto v0.159.0 // indirect
	github.com/go-json-experiment/json v0.0.0-20260213210345-44df1a37e875 // indirect
	github.com/jackc/pgpassfile v1.0.0 // indirect
	github.com/jackc/pgservicefile v0.0.0-20240606120523-5a60cdf6a761 // indirect
	github.com/jackc/pgx/v5 v5.12.0 // indirect
	github.com/redis/go-redis/v9 v9.23.0 // indirect
	go.uber.org/atomic v1.12.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
	golang.org/x/text v0.44.0 // indirect
)

replace github.com/go-voting-app/voting-app/platform => ../platform

replace github.com/go-voting-app/voting-app/testkit => ../testkit
