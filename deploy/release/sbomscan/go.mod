module github.com/go-voting-app/voting-app/deploy/release/sbomscan

go 1.26.0
