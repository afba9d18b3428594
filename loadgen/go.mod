module github.com/go-voting-app/voting-app/loadgen

go 1.26.0

require github.com/go-voting-app/voting-app/platform v0.0.0

require github.com/HdrHistogram/hdrhistogram-go v1.4.0

replace github.com/go-voting-app/voting-app/platform => ../platform
