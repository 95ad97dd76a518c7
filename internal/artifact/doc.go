// Package artifact moves files between a job's build directory and the run's storage, as
// GitLab Runner's artifact and cache helpers do, but as plain directory trees (no zip) so that
// a local run pays for a hard link or a copy, not for compression:
//
//   - Collect gathers artifacts:paths (and exclude, untracked) into a tree; Restore copies a
//     tree back into a later job's build directory.
//   - CacheKey, Push and Pull do the same for cache:, with keys, fallback keys and an atomic
//     replace that concurrent jobs can share.
//   - ReadDotenv, JUnitFiles and JUnit read artifacts:reports.
//
// Paths follow GitLab Runner's rules (doublestar globs relative to the build directory,
// nothing outside it, symbolic links kept as links and never followed out of it). A build
// directory holds what a job wrote, so it is read only beneath an os.Root opened on it
// (Collect, CacheKey's key:files, ReadDotenv, JUnitFiles), with size limits where the caller
// sets them (CollectMax, DotenvLimits).
//
// The package owns no policy: when artifacts or caches are saved (when:, policy:), how long
// they live (expire_in), which jobs receive them (needs, dependencies) and where the store
// lives are the caller's. It does not run git either: the caller lists untracked files.
package artifact
