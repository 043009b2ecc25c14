/* C varargs entry points of the OFX parameter and message suites.
 * Stable Rust cannot define variadic functions, so these read the arguments with va_arg, according to the
 * parameter's type as reported by Rust, and call fixed-arity Rust functions (suites/param/values.rs and
 * suites/message.rs). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

typedef int OfxStatus;
typedef void *OfxParamHandle;

#define kOfxStatOK 0
#define kOfxStatErrBadHandle 9
#define kOfxStatErrValue 11
#define kOfxStatErrUnsupported 5
#define kOfxStatErrMemory 8

enum { SHAPE_INTS = 0, SHAPE_DOUBLES = 1, SHAPE_STRING = 2, SHAPE_NONE = 3 };

OfxStatus kinema_host_param_shape(OfxParamHandle h, int *kind, int *count);
OfxStatus kinema_host_param_get_ints(OfxParamHandle h, int at_time, double time, int *out, int n);
OfxStatus kinema_host_param_get_doubles(OfxParamHandle h, int at_time, double time, double *out, int n);
OfxStatus kinema_host_param_get_string(OfxParamHandle h, int at_time, double time, const char **out);
OfxStatus kinema_host_param_set_ints(OfxParamHandle h, int at_time, double time, const int *v, int n);
OfxStatus kinema_host_param_set_doubles(OfxParamHandle h, int at_time, double time, const double *v, int n);
OfxStatus kinema_host_param_set_string(OfxParamHandle h, int at_time, double time, const char *v);
OfxStatus kinema_host_message(void *h, const char *type, const char *id, const char *text, int persistent);
void kinema_host_report_bad_arg(const char *func, const char *why);
OfxStatus kinema_host_param_calculus(OfxParamHandle h, int integral, double t1, double t2, double *out, int n);

static OfxStatus get_value(const char *func, OfxParamHandle h, int at_time, double time, va_list ap)
{
    int kind = 0, n = 0, i;
    OfxStatus st = kinema_host_param_shape(h, &kind, &n);
    if (st != kOfxStatOK) return st;
    if (n < 0 || n > 4) return kOfxStatErrValue;
    if (kind == SHAPE_INTS) {
        int v[4] = {0, 0, 0, 0};
        st = kinema_host_param_get_ints(h, at_time, time, v, n);
        if (st != kOfxStatOK) return st;
        for (i = 0; i < n; i++) {
            int *p = va_arg(ap, int *);
            if (!p) { kinema_host_report_bad_arg(func, "NULL value pointer"); return kOfxStatErrBadHandle; }
            *p = v[i];
        }
        return kOfxStatOK;
    }
    if (kind == SHAPE_DOUBLES) {
        double v[4] = {0, 0, 0, 0};
        st = kinema_host_param_get_doubles(h, at_time, time, v, n);
        if (st != kOfxStatOK) return st;
        for (i = 0; i < n; i++) {
            double *p = va_arg(ap, double *);
            if (!p) { kinema_host_report_bad_arg(func, "NULL value pointer"); return kOfxStatErrBadHandle; }
            *p = v[i];
        }
        return kOfxStatOK;
    }
    if (kind == SHAPE_STRING) {
        const char *s = 0;
        const char **p;
        st = kinema_host_param_get_string(h, at_time, time, &s);
        if (st != kOfxStatOK) return st;
        p = va_arg(ap, const char **);
        if (!p) { kinema_host_report_bad_arg(func, "NULL value pointer"); return kOfxStatErrBadHandle; }
        *p = s;
        return kOfxStatOK;
    }
    kinema_host_report_bad_arg(func, "this parameter type (page, group or push button) has no value");
    return kOfxStatErrUnsupported;
}

static OfxStatus set_value(const char *func, OfxParamHandle h, int at_time, double time, va_list ap)
{
    int kind = 0, n = 0, i;
    OfxStatus st = kinema_host_param_shape(h, &kind, &n);
    if (st != kOfxStatOK) return st;
    if (n < 0 || n > 4) return kOfxStatErrValue;
    if (kind == SHAPE_INTS) {
        int v[4];
        for (i = 0; i < n; i++) v[i] = va_arg(ap, int);
        return kinema_host_param_set_ints(h, at_time, time, v, n);
    }
    if (kind == SHAPE_DOUBLES) {
        double v[4];
        for (i = 0; i < n; i++) v[i] = va_arg(ap, double);
        return kinema_host_param_set_doubles(h, at_time, time, v, n);
    }
    if (kind == SHAPE_STRING) {
        const char *s = va_arg(ap, const char *);
        return kinema_host_param_set_string(h, at_time, time, s);
    }
    kinema_host_report_bad_arg(func, "this parameter type (page, group or push button) has no value");
    return kOfxStatErrUnsupported;
}

OfxStatus kinema_shim_param_get_value(OfxParamHandle h, ...)
{
    va_list ap;
    OfxStatus st;
    va_start(ap, h);
    st = get_value("paramGetValue", h, 0, 0.0, ap);
    va_end(ap);
    return st;
}

OfxStatus kinema_shim_param_get_value_at_time(OfxParamHandle h, double time, ...)
{
    va_list ap;
    OfxStatus st;
    va_start(ap, time);
    st = get_value("paramGetValueAtTime", h, 1, time, ap);
    va_end(ap);
    return st;
}

OfxStatus kinema_shim_param_set_value(OfxParamHandle h, ...)
{
    va_list ap;
    OfxStatus st;
    va_start(ap, h);
    st = set_value("paramSetValue", h, 0, 0.0, ap);
    va_end(ap);
    return st;
}

OfxStatus kinema_shim_param_set_value_at_time(OfxParamHandle h, double time, ...)
{
    va_list ap;
    OfxStatus st;
    va_start(ap, time);
    st = set_value("paramSetValueAtTime", h, 1, time, ap);
    va_end(ap);
    return st;
}

/* Derivatives and integrals of double parameters, computed in Rust (exact for keyed curves; without keys the
 * derivative is 0 and the integral value * (t2 - t1)). */
static OfxStatus derivative_or_integral(const char *func, OfxParamHandle h, double t1, double t2, int integral, va_list ap)
{
    int kind = 0, n = 0, i;
    double v[4] = {0, 0, 0, 0};
    OfxStatus st = kinema_host_param_shape(h, &kind, &n);
    if (st != kOfxStatOK) return st;
    if (kind != SHAPE_DOUBLES || n < 1 || n > 4) {
        kinema_host_report_bad_arg(func, "only double parameters have derivatives and integrals");
        return kOfxStatErrUnsupported;
    }
    st = kinema_host_param_calculus(h, integral, t1, t2, v, n);
    if (st != kOfxStatOK) return st;
    for (i = 0; i < n; i++) {
        double *p = va_arg(ap, double *);
        if (!p) { kinema_host_report_bad_arg(func, "NULL value pointer"); return kOfxStatErrBadHandle; }
        *p = v[i];
    }
    return kOfxStatOK;
}

OfxStatus kinema_shim_param_get_derivative(OfxParamHandle h, double time, ...)
{
    va_list ap;
    OfxStatus st;
    va_start(ap, time);
    st = derivative_or_integral("paramGetDerivative", h, time, time, 0, ap);
    va_end(ap);
    return st;
}

OfxStatus kinema_shim_param_get_integral(OfxParamHandle h, double time1, double time2, ...)
{
    va_list ap;
    OfxStatus st;
    va_start(ap, time2);
    st = derivative_or_integral("paramGetIntegral", h, time1, time2, 1, ap);
    va_end(ap);
    return st;
}

static OfxStatus post(void *h, const char *type, const char *id, const char *format, va_list ap, int persistent)
{
    va_list copy;
    int n;
    char *buf;
    OfxStatus st;
    if (!format) return kinema_host_message(h, type, id, "", persistent);
    va_copy(copy, ap);
    n = vsnprintf(0, 0, format, copy);
    va_end(copy);
    if (n < 0) return kinema_host_message(h, type, id, format, persistent);
    buf = (char *)malloc((size_t)n + 1);
    if (!buf) return kOfxStatErrMemory;
    vsnprintf(buf, (size_t)n + 1, format, ap);
    st = kinema_host_message(h, type, id, buf, persistent);
    free(buf);
    return st;
}

OfxStatus kinema_shim_message(void *h, const char *type, const char *id, const char *format, ...)
{
    va_list ap;
    OfxStatus st;
    va_start(ap, format);
    st = post(h, type, id, format, ap, 0);
    va_end(ap);
    return st;
}

OfxStatus kinema_shim_set_persistent_message(void *h, const char *type, const char *id, const char *format, ...)
{
    va_list ap;
    OfxStatus st;
    va_start(ap, format);
    st = post(h, type, id, format, ap, 1);
    va_end(ap);
    return st;
}
