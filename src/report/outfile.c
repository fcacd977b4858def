/*
 * Output files written whole or not at all (outfile.h).
 */
#include "outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The last component of path. */
static const char *base_of(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

int outfile_open(struct outfile *o, const char *path)
{
	char dir[4096];
	mode_t mask;
	int fd;

	o->f = NULL;
	o->dirfd = -1;
	if ((size_t)snprintf(o->tmp, sizeof(o->tmp), "%s.XXXXXX", path) >= sizeof(o->tmp))
		return -ENAMETOOLONG;
	snprintf(dir, sizeof(dir), "%s", path);
	o->dirfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (o->dirfd < 0)
		return -errno;
	o->tmp_base = base_of(o->tmp);
	fd = mkstemp(o->tmp);
	if (fd < 0) {
		int e = errno;

		close(o->dirfd);
		o->dirfd = -1;
		return -e;
	}
	mask = umask(0);
	umask(mask);
	if (fchmod(fd, 0666 & ~mask) < 0 || !(o->f = fdopen(fd, "w"))) {
		int e = errno;

		close(fd);
		unlinkat(o->dirfd, o->tmp_base, 0);
		close(o->dirfd);
		o->dirfd = -1;
		return -e;
	}
	return 0;
}

int outfile_commit(struct outfile *o, const char *path)
{
	int e = ferror(o->f) ? (errno ? errno : EIO) : 0;

	if (fclose(o->f) != 0 && !e)
		e = errno ? errno : EIO;
	o->f = NULL;
	if (!e && renameat(o->dirfd, o->tmp_base, o->dirfd, base_of(path)) != 0)
		e = errno;
	if (e)
		unlinkat(o->dirfd, o->tmp_base, 0);
	close(o->dirfd);
	o->dirfd = -1;
	return -e;
}

void outfile_drop(struct outfile *o)
{
	if (o->f) {
		fclose(o->f);
		unlinkat(o->dirfd, o->tmp_base, 0);
		close(o->dirfd);
		o->f = NULL;
		o->dirfd = -1;
	}
}
