module github.com/go-voting-app/voting-app/e2e

go 1.26.0
