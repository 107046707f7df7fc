package report

import (
	"context"
	"net/url"
	"strings"

	"github.com/debugai/debugai/evidence"
)

// Attribute keys Build reads commit information from (see the package
// doc).
const (
	AttrVCSRepositoryURL = "vcs.repository.url.full"
	AttrVCSRevision      = "vcs.ref.head.revision"
	AttrGitCommitSHA     = "git.commit.sha"
	AttrGitCommit        = "git.commit"
	AttrServiceVersion   = "service.version"
)

// buildCommits reads commit information from the cited spans and their
// resources, one link per (service, revision).
func buildCommits(ctx context.Context, rs *resolver, rep *Report, opts Options) error {
	seen := set{}
	for _, id := range citedIDs(rep) {
		it, err := rs.get(ctx, id)
		if err != nil {
			return err
		}
		if it == nil || it.Span == nil {
			continue
		}
		s := it.Span
		attrs, src := s.Attrs, id
		if s.ResourceID != "" {
			res, err := rs.get(ctx, s.ResourceID)
			if err != nil {
				return err
			}
			if res != nil && res.Resource != nil {
				// Span attributes win over the resource's.
				attrs = append(append(evidence.Attrs{}, s.Attrs...), res.Resource.Attrs...)
			}
		}
		c, ok := commitFrom(attrs, s.Service, s.Version, opts.RepositoryURL)
		if !ok || seen[c.Service+"\x00"+c.Revision] {
			continue
		}
		seen.add(c.Service + "\x00" + c.Revision)
		c.Source = src
		rep.Commits = append(rep.Commits, c)
	}
	return nil
}

// commitFrom recognizes a revision in attrs (or a commit-like version) and
// links it when the repository URL is http(s).
func commitFrom(attrs evidence.Attrs, service, version, defaultRepo string) (CommitLink, bool) {
	str := func(k string) string {
		v, ok := attrs.Get(k)
		if !ok {
			return ""
		}
		return strings.TrimSpace(v.String())
	}
	repo := str(AttrVCSRepositoryURL)
	rev := ""
	for _, k := range []string{AttrVCSRevision, AttrGitCommitSHA, AttrGitCommit} {
		if v := str(k); looksLikeCommit(v) {
			rev = v
			break
		}
	}
	if version == "" {
		version = str(AttrServiceVersion)
	}
	if rev == "" && looksLikeCommit(version) {
		rev = version
	}
	if rev == "" {
		return CommitLink{}, false
	}
	if repo == "" {
		repo = defaultRepo
	}
	c := CommitLink{Service: service, Version: version, Repository: repo, Revision: strings.ToLower(rev)}
	if base, ok := httpRepo(repo); ok {
		c.URL = base + "/commit/" + c.Revision
	}
	return c, true
}

// looksLikeCommit reports 7 to 40 hex digits with at least one letter a-f
// (so that a plain number such as a build id is not taken for one).
func looksLikeCommit(s string) bool {
	if len(s) < 7 || len(s) > 40 {
		return false
	}
	letter := false
	for _, c := range strings.ToLower(s) {
		switch {
		case c >= '0' && c <= '9':
		case c >= 'a' && c <= 'f':
			letter = true
		default:
			return false
		}
	}
	return letter
}

// httpRepo returns the repository URL without a trailing ".git" or "/"
// when it is an absolute http(s) URL without user info, query or fragment.
func httpRepo(repo string) (string, bool) {
	u, err := url.Parse(repo)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
		u.User != nil || u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(repo, " <>\"'`()[]\\") {
		return "", false
	}
	return strings.TrimSuffix(strings.TrimSuffix(u.String(), "/"), ".git"), true
}
