/*
 * Output files written whole or not at all (outfile.h).
 */
#include "outfile.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int outfile_open(struct outfile *o, const char *path)
{
	mode_t mask;
	int fd;

	o->f = NULL;
	if ((size_t)snprintf(o->tmp, sizeof(o->tmp), "%s.XXXXXX", path) >= sizeof(o->tmp))
		return -ENAMETOOLONG;
	fd = mkstemp(o->tmp);
	if (fd < 0)
		return -errno;
	mask = umask(0);
	umask(mask);
	if (fchmod(fd, 0666 & ~mask) < 0 || !(o->f = fdopen(fd, "w"))) {
		int e = errno;

		close(fd);
		unlink(o->tmp);
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
	if (!e && rename(o->tmp, path) != 0)
		e = errno;
	if (e)
		unlink(o->tmp);
	return -e;
}

void outfile_drop(struct outfile *o)
{
	if (o->f) {
		fclose(o->f);
		unlink(o->tmp);
		o->f = NULL;
	}
}
