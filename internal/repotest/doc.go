// Package repotest holds the repository's rules as tests: the dependency
// rules of ARCHITECTURE.md and "every package has a doc comment". It has no
// code of its own.
package repotest
