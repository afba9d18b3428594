// The floor programs: the smallest main that links the libraries a service must link. Not built
// here: `audit sizes` builds each inside a copy of the service's own go.mod and go.sum (so the
// versions are the service's) with the images' flags. A module of its own so the audit module's
// build and vet leave these files alone.
module github.com/go-voting-app/voting-app/audit/floor

go 1.26.0
