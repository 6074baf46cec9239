package defaults

import (
	"regexp"
	"strings"
)

// The grammar of github.com/distribution/reference, which kubelet and
// kube-apiserver use to parse image names.
var (
	referenceRE = func() *regexp.Regexp {
		const (
			alphanumeric    = `[a-z0-9]+`
			separator       = `(?:[._]|__|[-]+)`
			domainComponent = `(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])`
			domainName      = domainComponent + `(?:\.` + domainComponent + `)*`
			ipv6            = `\[(?:[a-fA-F0-9:]+)\]`
			domainAndPort   = `(?:` + domainName + `|` + ipv6 + `)(?::[0-9]+)?`
			pathComponent   = alphanumeric + `(?:` + separator + alphanumeric + `)*`
			name            = `(?:` + domainAndPort + `/)?` + pathComponent + `(?:/` + pathComponent + `)*`
			tag             = `[\w][\w.-]{0,127}`
			digest          = `[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][[:xdigit:]]{32,}`
		)
		return regexp.MustCompile(`^(` + name + `)(?::(` + tag + `))?(?:@(` + digest + `))?$`)
	}()
	anchoredIdentifierRE = regexp.MustCompile(`^[a-f0-9]{64}$`)
	knownDigestRE        = regexp.MustCompile(`^(?:sha256:[a-f0-9]{64}|sha384:[a-f0-9]{96}|sha512:[a-f0-9]{128})$`)
)

const maxImageNameLength = 255

// imageTag returns the tag Kubernetes' parsers.ParseImageName reports for an
// image: its tag, "latest" when it has neither tag nor digest, "" when it has
// only a digest or cannot be parsed (ParseNormalizedNamed fails).
func imageTag(image string) string {
	if image == "" || anchoredIdentifierRE.MatchString(image) {
		return ""
	}
	// splitDockerDomain: the first component is a registry only if it looks
	// like one; otherwise the name is on Docker Hub.
	domain, remainder := "docker.io", image
	if i := strings.IndexByte(image, '/'); i >= 0 {
		first := image[:i]
		if strings.ContainsAny(first, ".:") || first == "localhost" || strings.ToLower(first) != first {
			domain, remainder = first, image[i+1:]
		}
	}
	if domain == "docker.io" && !strings.ContainsRune(remainder, '/') {
		remainder = "library/" + remainder
	}
	remoteName := remainder
	if i := strings.IndexByte(remainder, ':'); i >= 0 {
		remoteName = remainder[:i]
	}
	if strings.ToLower(remoteName) != remoteName {
		return ""
	}
	m := referenceRE.FindStringSubmatch(domain + "/" + remainder)
	if m == nil || len(m[1]) > maxImageNameLength {
		return ""
	}
	tag, digest := m[2], m[3]
	if digest != "" && !knownDigestRE.MatchString(digest) {
		return ""
	}
	if tag == "" && digest == "" {
		return "latest"
	}
	return tag
}
