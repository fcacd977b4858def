/*
 * ombra report: one self-contained HTML page of charts (static SVG drawn
 * here, no scripts, nothing fetched) from any mix of --stats=json reports,
 * ombra compare --json outputs and --trace files.  docs/report.md.
 */
#ifndef OMBRA_HTMLREPORT_H
#define OMBRA_HTMLREPORT_H

#include <stddef.h>

/*
 * Read the n input files (each one told apart by its content) and write the
 * page to out ("-": standard output) through a temporary file and a rename,
 * so a failure leaves no half page.  Returns 0, or -errno with one line in
 * err naming the file (and the line) at fault:
 *   -EEXIST   out is one of the inputs (nothing is read or written)
 *   -EINVAL   an input is malformed or not one of the three kinds
 *   -ENOMEM   out of memory
 *   other     an input could not be read, or the page could not be written
 */
int htmlreport_write(const char *out, const char *const *inputs, int n, char *err, size_t errlen);

#endif
