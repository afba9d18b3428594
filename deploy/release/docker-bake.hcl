# The release build of the four service images: every platform, pushed to the local registry,
# with an SBOM and provenance attached, reproducible from the commit. deploy/release/build.sh
# runs it (`make release`) with the variables below taken from out/release/bases.env and git:
#
#   docker buildx bake --builder voting-release -f deploy/release/docker-bake.hcl
#
# The same Dockerfiles as `docker compose build`; only the bases (by digest), the platforms and
# the exporter differ.
variable "REGISTRY" { default = "127.0.0.1:5125" }
variable "GO_IMAGE" { default = "golang:1.26.8-trixie" }
variable "RUNTIME_IMAGE" { default = "gcr.io/distroless/static-debian13:nonroot" }
variable "SBOM_SCANNER" { default = "" }
variable "RELEASE_PLATFORMS" { default = "linux/amd64,linux/arm64" }
variable "VERSION" { default = "dev" }
# The tag pushed; VERSION unless set.
variable "TAG" { default = "" }
# Set: write each index to an OCI layout in OCI_DIR/<service> instead of pushing it. The
# reproducibility check builds its second copy this way, under the same name, so even the SBOM's
# subject (which names the image) is the same, and the release's tag is left alone.
variable "OCI_DIR" { default = "" }
variable "REVISION" { default = "unknown" }
variable "CREATED" { default = "1970-01-01T00:00:00Z" }
# The commit time: BuildKit sets the image config's times from it, rewrite-timestamp clamps every
# file time in the new layers to it, and the SBOM generator stamps its document with it.
variable "SOURCE_DATE_EPOCH" { default = "0" }

group "default" {
  targets = ["service"]
}

target "service" {
  name       = svc
  matrix     = { svc = ["vote", "worker", "result", "analyzer"] }
  context    = "."
  dockerfile = "${svc}/Dockerfile"
  platforms  = split(",", RELEASE_PLATFORMS)
  args = {
    GO_IMAGE          = GO_IMAGE
    RUNTIME_IMAGE     = RUNTIME_IMAGE
    VERSION           = VERSION
    REVISION          = REVISION
    CREATED           = CREATED
    SOURCE_DATE_EPOCH = SOURCE_DATE_EPOCH
  }
  attest = [
    notequal("", SBOM_SCANNER) ? "type=sbom,generator=${SBOM_SCANNER},SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH}" : "type=sbom",
    "type=provenance,mode=max",
  ]
  output = [notequal("", OCI_DIR)
    ? "type=oci,dest=${OCI_DIR}/${svc},tar=false,name=${REGISTRY}/voting-app/${svc}:${notequal("", TAG) ? TAG : VERSION},rewrite-timestamp=true"
    : "type=image,name=${REGISTRY}/voting-app/${svc}:${notequal("", TAG) ? TAG : VERSION},push=true,rewrite-timestamp=true,oci-mediatypes=true"]
}
