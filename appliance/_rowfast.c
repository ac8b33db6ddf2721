/* appliance._rowfast: the import's row check for the plainest rows, in C.
 *
 * `Checker(...)` is built by appliance/importing/rows.py from tables that Python computes with
 * libphonenumber's metadata (appliance/phones/fast.py). `add(line, cells)` checks a record as the
 * Python `RowChecker` does and keeps the row, written in marshal's format, until `take()`; a
 * row it does not take on goes to the Python check (passed in as `slow`), whose row it keeps
 * too, or whose rejects it returns. `scan(...)` does the same for the plainest lines of the
 * file, cut from its bytes here (see `cut`). It takes on a row only when every step is one of
 * the plain ones below; every judgement it cannot make itself (a number's type on a cache miss,
 * the cc-prefixed form's pattern test, a new zone set's id) it asks Python for. With
 * `known_keys` it also drops duplicates (a bulk import, appliance/store/importer.py). The
 * property tests tests/test_rowfast.py and tests/test_csv_source.py hold it to the Python
 * check's and the csv module's answers.
 *
 * Plain, for a phone cell: ASCII after stripping, at most 28 characters, only digits and the
 * separators " -().", at most one leading '+', then one of:
 *   - a national number whose first digit cannot begin the international prefix, the country
 *     code or the national prefix (phones.fast's "usual case");
 *   - '+' and the campaign's country code, then a national number whose first digit cannot
 *     begin the national prefix;
 *   - the country code without '+' (e.g. 1-201-555-0123), decided by `cc_choice` as
 *     libphonenumber decides it;
 * and a type other than UNKNOWN in the country code's main region.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <marshal.h>
#include <stdint.h>
#include <string.h>

#define N_PHONES 5
#define N_BPS 12
#define ROW_WIDTH 34
#define AT_GIVEN 2
#define AT_E164 7
#define AT_ZONES 12
#define AT_BPS 17
#define AT_PRIORITY 30
#define MAX_PHONE_CHARS 28
#define MAX_BP_CHARS 255
#define MAX_NSN 17
#define MIN_NSN 2
#define MAX_DIGITS 64
#define MAX_SCAN_CELLS 64 /* a layout with more cells is read by the Python check */



typedef struct {
    PyObject_HEAD
    Py_ssize_t n_phones;
    int phone_slot[N_PHONES];
    Py_ssize_t phone_cell[N_PHONES];
    Py_ssize_t bp_cell[N_BPS]; /* past the record's cells (a column the layout lacks): "" */
    Py_ssize_t max_cells;
    char cc[8];
    Py_ssize_t cc_len;
    unsigned usual_first; /* bit d: a national number may start with digit d as it is */
    unsigned plus_first;  /* after +cc: digits that cannot begin the national prefix */
    unsigned home_np_safe; /* without '+': digits that cannot begin the home national prefix */
    int cc_path;          /* the cc-prefixed form without '+' is taken on */
    long unknown_kind;
    unsigned long geo_kinds;
    PyObject *cc_choice;   /* (digits, potential) -> bool */
    PyObject *number_type; /* (nsn) -> int */
    PyObject *country_zone;
    PyObject *zone_table;  /* dict: prefix -> zone key or None */
    PyObject *zone_steps;  /* tuple of (length, frozenset of prefixes something longer begins) */
    PyObject *zone_of;     /* dict: zone key -> id */
    PyObject *id_for;      /* (zone key) -> id */
    PyObject *slow;        /* (line, cells) -> row or rejects */
    PyObject *key_of;      /* (bytes) -> the dedup key, rows.dedup_key_of (hashlib's BLAKE2b) */
    PyObject *empty;
    /* The rows taken since the last take(): marshal's encoding of each, one after another. */
    char *out;
    Py_ssize_t out_len, out_cap, out_rows;
    /* With `known_keys`: the dedup keys seen (the campaign's and this file's so far), an
     * open-addressing set (0 stands for an empty slot; key 0 itself is `seen_zero`). */
    int dedup, seen_zero;
    uint64_t *seen;
    size_t seen_cap, seen_len;
} Checker;

/* Add `key` to the seen set: 1 if it was new, 0 if already there, -1 on error. The keys are
 * BLAKE2b digests (rows.dedup_key_of), so their low bits serve as the hash. */
static int
seen_add(Checker *self, uint64_t key)
{
    if (key == 0) {
        int fresh = !self->seen_zero;
        self->seen_zero = 1;
        return fresh;
    }
    if (2 * (self->seen_len + 1) > self->seen_cap) {
        size_t cap = self->seen_cap ? 2 * self->seen_cap : 1 << 12;
        uint64_t *table = PyMem_Calloc(cap, sizeof(uint64_t));
        if (table == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        for (size_t i = 0; i < self->seen_cap; i++) {
            uint64_t k = self->seen[i];
            if (k != 0) {
                size_t j = (size_t)k & (cap - 1);
                while (table[j] != 0)
                    j = (j + 1) & (cap - 1);
                table[j] = k;
            }
        }
        PyMem_Free(self->seen);
        self->seen = table, self->seen_cap = cap;
    }
    size_t j = (size_t)key & (self->seen_cap - 1);
    while (self->seen[j] != 0) {
        if (self->seen[j] == key)
            return 0;
        j = (j + 1) & (self->seen_cap - 1);
    }
    self->seen[j] = key;
    self->seen_len++;
    return 1;
}

static int
digit_mask(PyObject *text, unsigned *out)
{
    *out = 0;
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "digit sets are str");
        return -1;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ_CHAR(text, i);
        if (c < '0' || c > '9') {
            PyErr_SetString(PyExc_ValueError, "digit sets hold only 0-9");
            return -1;
        }
        *out |= 1u << (c - '0');
    }
    return 0;
}

static int
index_list(PyObject *seq, Py_ssize_t *out, Py_ssize_t want, const char *what)
{
    PyObject *fast = PySequence_Fast(seq, what);
    if (fast == NULL)
        return -1;
    if (PySequence_Fast_GET_SIZE(fast) != want) {
        PyErr_Format(PyExc_ValueError, "%s: %zd items expected", what, want);
        Py_DECREF(fast);
        return -1;
    }
    for (Py_ssize_t i = 0; i < want; i++) {
        out[i] = PyLong_AsSsize_t(PySequence_Fast_GET_ITEM(fast, i));
        if (out[i] == -1 && PyErr_Occurred()) {
            Py_DECREF(fast);
            return -1;
        }
    }
    Py_DECREF(fast);
    return 0;
}

static void
Checker_clear_refs(Checker *self)
{
    Py_CLEAR(self->cc_choice);
    Py_CLEAR(self->number_type);
    Py_CLEAR(self->country_zone);
    Py_CLEAR(self->zone_table);
    Py_CLEAR(self->zone_steps);
    Py_CLEAR(self->zone_of);
    Py_CLEAR(self->id_for);
    Py_CLEAR(self->slow);
    Py_CLEAR(self->key_of);
    Py_CLEAR(self->empty);
}

static void
Checker_dealloc(Checker *self)
{
    Checker_clear_refs(self);
    PyMem_Free(self->out);
    PyMem_Free(self->seen);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int
Checker_init(Checker *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"phone_slots", "phone_cells", "bp_cells", "max_cells", "cc",
                             "usual_first", "plus_first", "home_np_safe", "cc_choice",
                             "number_type", "unknown_kind", "geo_kinds", "country_zone",
                             "zone_table", "zone_steps", "zone_of", "id_for", "slow", "key_of",
                             "known_keys", NULL};
    PyObject *phone_slots, *phone_cells, *bp_cells, *cc, *usual, *plus, *np_safe, *cc_choice;
    PyObject *number_type, *geo_kinds, *country_zone, *zone_table, *zone_steps;
    PyObject *zone_of, *id_for, *slow, *key_of, *known_keys = Py_None;
    Py_ssize_t max_cells;
    long unknown_kind;
    if (!PyArg_ParseTupleAndKeywords(
            args, kwds, "OOOnUUUUOOlOOO!O!O!OOO|O", kwlist, &phone_slots, &phone_cells,
            &bp_cells, &max_cells, &cc, &usual, &plus, &np_safe, &cc_choice, &number_type,
            &unknown_kind, &geo_kinds, &country_zone, &PyDict_Type, &zone_table, &PyTuple_Type,
            &zone_steps, &PyDict_Type, &zone_of, &id_for, &slow, &key_of, &known_keys))
        return -1;
    Checker_clear_refs(self);
    Py_ssize_t n = PySequence_Size(phone_slots);
    if (n < 0)
        return -1;
    if (n > N_PHONES) {
        PyErr_SetString(PyExc_ValueError, "at most 5 phones");
        return -1;
    }
    self->n_phones = n;
    Py_ssize_t slots[N_PHONES];
    if (index_list(phone_slots, slots, n, "phone_slots") < 0 ||
        index_list(phone_cells, self->phone_cell, n, "phone_cells") < 0 ||
        index_list(bp_cells, self->bp_cell, N_BPS, "bp_cells") < 0)
        return -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (slots[i] < 0 || slots[i] >= N_PHONES) {
            PyErr_SetString(PyExc_ValueError, "phone slots are 0..4");
            return -1;
        }
        self->phone_slot[i] = (int)slots[i];
    }
    self->max_cells = max_cells;
    Py_ssize_t cc_len;
    const char *cc_text = PyUnicode_AsUTF8AndSize(cc, &cc_len);
    if (cc_text == NULL)
        return -1;
    if (cc_len < 1 || cc_len > 3) {
        PyErr_SetString(PyExc_ValueError, "a country code has 1 to 3 digits");
        return -1;
    }
    memcpy(self->cc, cc_text, cc_len);
    self->cc_len = cc_len;
    if (digit_mask(usual, &self->usual_first) < 0 || digit_mask(plus, &self->plus_first) < 0 ||
        digit_mask(np_safe, &self->home_np_safe) < 0)
        return -1;
    self->cc_path = cc_choice != Py_None;
    self->unknown_kind = unknown_kind;
    self->geo_kinds = PyLong_AsUnsignedLong(geo_kinds);
    if (self->geo_kinds == (unsigned long)-1 && PyErr_Occurred())
        return -1;
    self->empty = PyUnicode_FromString("");
    if (!self->empty)
        return -1;
    self->out_len = self->out_rows = 0;
    PyMem_Free(self->seen);
    self->seen = NULL, self->seen_cap = self->seen_len = 0, self->seen_zero = 0;
    self->dedup = known_keys != Py_None;
    if (self->dedup) {
        /* the keys as int64 in the machine's order (array('q')) */
        Py_buffer keys;
        if (PyObject_GetBuffer(known_keys, &keys, PyBUF_SIMPLE) < 0)
            return -1;
        int failed = keys.len % 8 != 0;
        if (failed)
            PyErr_SetString(PyExc_ValueError, "known_keys holds 8-byte keys");
        for (Py_ssize_t i = 0; !failed && i < keys.len / 8; i++) {
            uint64_t key;
            memcpy(&key, (const char *)keys.buf + 8 * i, 8);
            failed = seen_add(self, key) < 0;
        }
        PyBuffer_Release(&keys);
        if (failed)
            return -1;
    }
    self->cc_choice = Py_NewRef(cc_choice);
    self->number_type = Py_NewRef(number_type);
    self->country_zone = Py_NewRef(country_zone);
    self->zone_table = Py_NewRef(zone_table);
    self->zone_steps = Py_NewRef(zone_steps);
    self->zone_of = Py_NewRef(zone_of);
    self->id_for = Py_NewRef(id_for);
    self->slow = Py_NewRef(slow);
    self->key_of = Py_NewRef(key_of);
    return 0;
}

/* The number's type in the main region (Plan.number_type); -2 on error. */
static long
number_type(Checker *self, const char *nsn, Py_ssize_t len)
{
    PyObject *text = PyUnicode_FromStringAndSize(nsn, len);
    PyObject *kind = text == NULL ? NULL : PyObject_CallOneArg(self->number_type, text);
    Py_XDECREF(text);
    if (kind == NULL)
        return -2;
    long value = PyLong_AsLong(kind);
    Py_DECREF(kind);
    if (value == -1 && PyErr_Occurred())
        return -2;
    return value;
}

/* phones.fast.zone_key for a geographical number: the longest prefix of `digits` in the table,
 * going up the table's lengths; a borrowed reference (None or the key), NULL on error. */
static PyObject *
zone_lookup(Checker *self, const char *digits, Py_ssize_t len)
{
    PyObject *found = Py_None;
    Py_ssize_t steps = PyTuple_GET_SIZE(self->zone_steps);
    for (Py_ssize_t s = 0; s < steps; s++) {
        PyObject *step = PyTuple_GET_ITEM(self->zone_steps, s);
        Py_ssize_t length = PyLong_AsSsize_t(PyTuple_GET_ITEM(step, 0));
        if (length < 0)
            return NULL;
        PyObject *prefix = PyUnicode_FromStringAndSize(digits, length < len ? length : len);
        if (prefix == NULL)
            return NULL;
        PyObject *zone = PyDict_GetItemWithError(self->zone_table, prefix);
        if (zone != NULL)
            found = zone;
        else if (PyErr_Occurred()) {
            Py_DECREF(prefix);
            return NULL;
        }
        int longer = PySet_Contains(PyTuple_GET_ITEM(step, 1), prefix);
        Py_DECREF(prefix);
        if (longer < 0)
            return NULL;
        if (!longer)
            break;
    }
    return found;
}

/* The reading of the country code written without '+' (`Plan.cc_choice`): whether to take
 * what follows it as the number. 1: yes, 0: no, -1: error. */
static int
cc_choice(Checker *self, const char *digits, Py_ssize_t len)
{
    PyObject *all = PyUnicode_FromStringAndSize(digits, len);
    PyObject *after = PyUnicode_FromStringAndSize(digits + self->cc_len, len - self->cc_len);
    PyObject *answer =
        (all && after) ? PyObject_CallFunctionObjArgs(self->cc_choice, all, after, NULL) : NULL;
    Py_XDECREF(all);
    Py_XDECREF(after);
    int yes = answer == NULL ? -1 : PyObject_IsTrue(answer);
    Py_XDECREF(answer);
    return yes;
}

typedef enum { TAKEN, DECLINED, FAILED } Verdict;

/* A cell's text after str.strip(), as UTF-8 bytes (pointing into the cell or the line). */
typedef struct {
    const char *data;
    Py_ssize_t len;   /* bytes */
    Py_ssize_t chars; /* code points */
    int ascii;
} Text;

/* The length of the UTF-8 sequence at s[0] (of n bytes left), 0 if Python would refuse it. */
static int
utf8_length(const unsigned char *s, Py_ssize_t n)
{
    unsigned char c = s[0];
    int len;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F; /* no surrogates */
    }
    else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    }
    else
        return 0;
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (int i = 2; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return len;
}

static Py_UCS4
utf8_char(const unsigned char *s, int len)
{
    if (len == 1)
        return s[0];
    Py_UCS4 c = s[0] & (0x7F >> len);
    for (int i = 1; i < len; i++)
        c = c << 6 | (s[i] & 0x3F);
    return c;
}

/* A cell's text without leading and trailing whitespace (str.strip()), its code points counted. */
static Text
stripped(Text t)
{
    const unsigned char *s = (const unsigned char *)t.data;
    Py_ssize_t i = 0, j = t.len;
    while (i < j) {
        int len = s[i] < 0x80 ? 1 : utf8_length(s + i, j - i);
        if (!Py_UNICODE_ISSPACE(utf8_char(s + i, len)))
            break;
        i += len;
    }
    while (j > i) {
        Py_ssize_t k = j - 1;
        while (k > i && (s[k] & 0xC0) == 0x80)
            k--;
        if (!Py_UNICODE_ISSPACE(utf8_char(s + k, (int)(j - k))))
            break;
        j = k;
    }
    Text out = {t.data + i, j - i, j - i, 1};
    if (!t.ascii) { /* count the code points; what is left may be ASCII */
        out.chars = 0;
        for (Py_ssize_t k = i; k < j; k++) {
            out.chars += (s[k] & 0xC0) != 0x80;
            out.ascii &= s[k] < 0x80;
        }
    }
    return out;
}

/* The stripped text of `cell` (NULL: an absent cell, read as ""): 0, or 1 when it is not a str,
 * or -1 on error. It points into the cell's UTF-8 (an ASCII str's own characters). */
static int
cell_text(PyObject *cell, Text *t)
{
    Text whole = {"", 0, 0, 1};
    if (cell != NULL) {
        if (!PyUnicode_Check(cell))
            return 1;
        whole.data = PyUnicode_AsUTF8AndSize(cell, &whole.len);
        if (whole.data == NULL)
            return -1;
        whole.ascii = PyUnicode_IS_ASCII(cell);
    }
    *t = stripped(whole);
    return 0;
}

/* A phone as checked: its E.164 form and the id of its zone set. */
typedef struct {
    char e164[MAX_DIGITS + 8];
    Py_ssize_t e164_len;
    long zone_id;
} Phone;

/* One phone cell's stripped text (ASCII): TAKEN (and *out filled), DECLINED or FAILED. */
static Verdict
phone(Checker *self, const char *text, Py_ssize_t n, Phone *out)
{
    if (n > MAX_PHONE_CHARS)
        return DECLINED;
    char digits[MAX_DIGITS];
    Py_ssize_t len = 0;
    int plus = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        char c = text[i];
        if (c >= '0' && c <= '9')
            digits[len++] = c;
        else if (c == '+' && len == 0 && !plus)
            plus = 1;
        else if (c != ' ' && c != '-' && c != '(' && c != ')' && c != '.')
            return DECLINED;
    }
    if (len < 3)
        return DECLINED;
    const char *nsn;
    Py_ssize_t nsn_len;
    const char *cc = self->cc;
    Py_ssize_t cc_len = self->cc_len;
    int starts_cc = len > cc_len && memcmp(digits, cc, cc_len) == 0;
    if (!plus && (self->usual_first >> (digits[0] - '0') & 1) && len <= MAX_NSN) {
        nsn = digits, nsn_len = len;
    }
    else if (plus) {
        if (!starts_cc)
            return DECLINED;
        nsn = digits + cc_len, nsn_len = len - cc_len;
        if (nsn_len < MIN_NSN || nsn_len > MAX_NSN || !(self->plus_first >> (nsn[0] - '0') & 1))
            return DECLINED;
    }
    else if (self->cc_path && starts_cc) {
        const char *potential = digits + cc_len;
        if (!(self->home_np_safe >> (potential[0] - '0') & 1))
            return DECLINED;
        int yes = cc_choice(self, digits, len);
        if (yes < 0)
            return FAILED;
        if (yes)
            nsn = potential, nsn_len = len - cc_len;
        else
            nsn = digits, nsn_len = len;
        if (nsn_len < MIN_NSN || nsn_len > MAX_NSN ||
            !(self->home_np_safe >> (nsn[0] - '0') & 1))
            return DECLINED;
    }
    else
        return DECLINED;
    long kind = number_type(self, nsn, nsn_len);
    if (kind == -2)
        return FAILED;
    if (kind == self->unknown_kind)
        return DECLINED;
    char *e164 = out->e164;
    e164[0] = '+';
    memcpy(e164 + 1, cc, cc_len);
    memcpy(e164 + 1 + cc_len, nsn, nsn_len);
    out->e164_len = 1 + cc_len + nsn_len;
    PyObject *zone;
    int geographical = kind >= 0 && kind < 64 && (self->geo_kinds >> kind & 1);
    if (geographical) {
        zone = zone_lookup(self, e164 + 1, out->e164_len - 1);
        if (zone == NULL)
            return FAILED;
    }
    else
        zone = self->country_zone;
    if (zone == Py_None)
        zone = self->empty;
    PyObject *zone_id = PyDict_GetItemWithError(self->zone_of, zone);
    if (zone_id != NULL)
        out->zone_id = PyLong_AsLong(zone_id);
    else {
        if (PyErr_Occurred())
            return FAILED;
        zone_id = PyObject_CallOneArg(self->id_for, zone);
        if (zone_id == NULL)
            return FAILED;
        out->zone_id = PyLong_AsLong(zone_id);
        int failed = PyDict_SetItem(self->zone_of, zone, zone_id);
        Py_DECREF(zone_id);
        if (failed < 0)
            return FAILED;
    }
    return out->zone_id == -1 && PyErr_Occurred() ? FAILED : TAKEN;
}

/* The rows go out in marshal's format (CPython's, read by marshal.loads; version 4's types
 * without its back-references, so rows can be appended one after another). */
#define M_NONE 'N'
#define M_INT 'i'
#define M_LONG 'l'
#define M_UNICODE 'u'
#define M_ASCII 'a'
#define M_SHORT_ASCII 'z'
#define M_SMALL_TUPLE ')'
#define M_LIST '['
#define M_INT_SIZE 15 /* the most an int takes: 'l', a count and five 15-bit digits */
#define M_STR_SIZE(n) (5 + (n))

static int
reserve(Checker *self, Py_ssize_t more)
{
    if (self->out_len + more <= self->out_cap)
        return 0;
    Py_ssize_t cap = self->out_cap ? self->out_cap : 1 << 16;
    while (cap < self->out_len + more)
        cap *= 2;
    char *grown = PyMem_Realloc(self->out, cap);
    if (grown == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    self->out = grown, self->out_cap = cap;
    return 0;
}

static char *
put_u32(char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++, v >>= 8)
        *p++ = (char)(v & 0xFF);
    return p;
}

static char *
put_int(char *p, int64_t v)
{
    if (v >= INT32_MIN && v <= INT32_MAX) {
        *p++ = M_INT;
        return put_u32(p, (uint32_t)(int32_t)v);
    }
    uint64_t u = v < 0 ? (uint64_t)(-(v + 1)) + 1 : (uint64_t)v;
    uint16_t digits[5];
    int n = 0;
    for (; u; u >>= 15)
        digits[n++] = (uint16_t)(u & 0x7FFF);
    *p++ = M_LONG;
    p = put_u32(p, (uint32_t)(int32_t)(v < 0 ? -n : n));
    for (int i = 0; i < n; i++) {
        *p++ = (char)(digits[i] & 0xFF);
        *p++ = (char)(digits[i] >> 8);
    }
    return p;
}

static char *
put_str(char *p, const char *s, Py_ssize_t n, int ascii)
{
    if (ascii && n < 256) {
        *p++ = M_SHORT_ASCII;
        *p++ = (char)n;
    }
    else {
        *p++ = ascii ? M_ASCII : M_UNICODE;
        p = put_u32(p, (uint32_t)n);
    }
    memcpy(p, s, n);
    return p + n;
}

/* A row the C check did not take on: what the Python check says. A row goes into the buffer
 * (marshal version 2, which has no back-references); rejects are returned. */
static PyObject *
slow(Checker *self, PyObject *line, PyObject *cells)
{
    PyObject *result = PyObject_CallFunctionObjArgs(self->slow, line, cells, NULL);
    if (result == NULL || !PyTuple_Check(result))
        return result;
    if (self->dedup && PyTuple_GET_SIZE(result) > 1) {
        long long key = PyLong_AsLongLong(PyTuple_GET_ITEM(result, 1));
        int fresh = key == -1 && PyErr_Occurred() ? -1 : seen_add(self, (uint64_t)key);
        if (fresh <= 0) {
            Py_DECREF(result);
            if (fresh < 0)
                return NULL;
            Py_RETURN_NONE;
        }
    }
    PyObject *data = PyMarshal_WriteObjectToString(result, 2);
    Py_DECREF(result);
    if (data == NULL)
        return NULL;
    int failed = reserve(self, PyBytes_GET_SIZE(data));
    if (!failed) {
        memcpy(self->out + self->out_len, PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data));
        self->out_len += PyBytes_GET_SIZE(data);
        self->out_rows++;
    }
    Py_DECREF(data);
    if (failed)
        return NULL;
    Py_RETURN_NONE;
}

/* The check of one row, its cells stripped (given[] by phone slot, for the layout's phones):
 * TAKEN (the row written out, or dropped as a duplicate), DECLINED (for the Python check) or
 * FAILED. */
static Verdict
check_row(Checker *self, long long line_no, const Text *given, const Text *bps)
{
    Phone phones[N_PHONES];
    int has[N_PHONES] = {0};
    for (Py_ssize_t p = 0; p < self->n_phones; p++) {
        int slot = self->phone_slot[p];
        const Text *t = &given[slot];
        if (t->len == 0) {
            if (slot == 0)
                return DECLINED; /* Phone1 is mandatory: the Python check words the reject */
            continue;
        }
        if (!t->ascii)
            return DECLINED;
        Verdict v = phone(self, t->data, t->len, &phones[slot]);
        if (v != TAKEN)
            return v;
        has[slot] = 1;
    }
    for (int b = 0; b < N_BPS; b++)
        if (bps[b].chars > MAX_BP_CHARS)
            return DECLINED;
    /* The dedup key (rows.dedup_key): of the E.164 numbers (or "") and the parameters, joined
     * by U+001F, as UTF-8; hashed by rows.dedup_key_of. */
    Py_ssize_t size = 2 + 2 * M_INT_SIZE + (ROW_WIDTH - AT_BPS - N_BPS) * M_INT_SIZE;
    Py_ssize_t joined = N_PHONES - 1 + N_BPS;
    for (int s = 0; s < N_PHONES; s++) {
        if (has[s]) {
            joined += phones[s].e164_len;
            size += M_STR_SIZE(given[s].len) + M_STR_SIZE(phones[s].e164_len) + M_INT_SIZE;
        }
        else
            size += 3;
    }
    for (int b = 0; b < N_BPS; b++) {
        joined += bps[b].len;
        size += M_STR_SIZE(bps[b].len);
    }
    PyObject *parts = PyBytes_FromStringAndSize(NULL, joined);
    if (parts == NULL)
        return FAILED;
    char *j = PyBytes_AS_STRING(parts);
    for (int s = 0; s < N_PHONES; s++) {
        if (s > 0)
            *j++ = '\x1f';
        if (has[s]) {
            memcpy(j, phones[s].e164, phones[s].e164_len);
            j += phones[s].e164_len;
        }
    }
    for (int b = 0; b < N_BPS; b++) {
        *j++ = '\x1f';
        memcpy(j, bps[b].data, bps[b].len);
        j += bps[b].len;
    }
    PyObject *digest = PyObject_CallOneArg(self->key_of, parts);
    Py_DECREF(parts);
    if (digest == NULL)
        return FAILED;
    int64_t key = PyLong_AsLongLong(digest);
    Py_DECREF(digest);
    if (key == -1 && PyErr_Occurred())
        return FAILED;
    if (self->dedup) {
        int fresh = seen_add(self, (uint64_t)key);
        if (fresh <= 0)
            return fresh < 0 ? FAILED : TAKEN; /* a duplicate is checked but not kept */
    }
    if (reserve(self, size) < 0)
        return FAILED;
    char *w = self->out + self->out_len;
    *w++ = M_SMALL_TUPLE;
    *w++ = ROW_WIDTH;
    w = put_int(w, line_no);
    w = put_int(w, key);
    for (int s = 0; s < N_PHONES; s++)
        w = has[s] ? put_str(w, given[s].data, given[s].len, 1) : (*w = M_NONE, w + 1);
    for (int s = 0; s < N_PHONES; s++)
        w = has[s] ? put_str(w, phones[s].e164, phones[s].e164_len, 1) : (*w = M_NONE, w + 1);
    for (int s = 0; s < N_PHONES; s++)
        w = has[s] ? put_int(w, phones[s].zone_id) : (*w = M_NONE, w + 1);
    for (int b = 0; b < N_BPS; b++)
        w = bps[b].len ? put_str(w, bps[b].data, bps[b].len, bps[b].ascii) : (*w = M_NONE, w + 1);
    for (int i = AT_BPS + N_BPS; i < ROW_WIDTH; i++)
        w = i == AT_PRIORITY ? put_int(w, 0) : (*w = M_NONE, w + 1);
    self->out_len = w - self->out;
    self->out_rows++;
    return TAKEN;
}

/* add(line, cells): None when the row passed the check (kept for take(), or, with known_keys,
 * dropped as a duplicate of a key seen before), else the Python check's rejects. */
static PyObject *
Checker_add(Checker *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "add(line, cells) takes 2 arguments");
        return NULL;
    }
    PyObject *line = args[0], *cells = args[1];
    long long line_no = PyLong_AsLongLong(line);
    if (line_no == -1 && PyErr_Occurred())
        return NULL;
    if (!PyList_CheckExact(cells) || PyList_GET_SIZE(cells) > self->max_cells)
        return slow(self, line, cells);
    Py_ssize_t n = PyList_GET_SIZE(cells);
    Text given[N_PHONES], bps[N_BPS];
    int r = 0;
    for (Py_ssize_t p = 0; r == 0 && p < self->n_phones; p++) {
        Py_ssize_t at = self->phone_cell[p];
        r = cell_text(at < n ? PyList_GET_ITEM(cells, at) : NULL, &given[self->phone_slot[p]]);
    }
    for (Py_ssize_t b = 0; r == 0 && b < N_BPS; b++) {
        Py_ssize_t at = self->bp_cell[b];
        r = cell_text(at >= 0 && at < n ? PyList_GET_ITEM(cells, at) : NULL, &bps[b]);
    }
    Verdict verdict = r < 0 ? FAILED : r > 0 ? DECLINED : check_row(self, line_no, given, bps);
    if (verdict == TAKEN)
        Py_RETURN_NONE;
    if (verdict == FAILED)
        return NULL;
    return slow(self, line, cells);
}

/* The scan reads a line itself when the csv module would read it as one record and the cutting
 * is plain: UTF-8 (as Python's strict decoder takes it), no control characters but tabs, a
 * quote only around a whole cell (with "" for a quote inside), no longer than the csv module's
 * default field limit. Anything else is read by the csv module. */
#define PLAIN_MAX 131072

/* Cut a line (without its line end) into cells as the csv module does, where that is plain.
 * Cells point into the line, or into `scratch` (as long as the line) where a "" was undone.
 * Returns the number of cells (storing the first max + 1 in `cells`), or -1: not plain. */
static Py_ssize_t
cut(const char *line, Py_ssize_t n, char *scratch, Text *cells, Py_ssize_t max)
{
    const unsigned char *s = (const unsigned char *)line;
    if (n > PLAIN_MAX)
        return -1;
    Py_ssize_t count = 0, i = 0;
    char *out = scratch;
    for (;;) {
        Text cell = {line + i, 0, 0, 1};
        if (i < n && s[i] == '"') { /* a quoted cell: up to the quote before a comma or the end */
            i++;
            cell.data = line + i;
            const char *copied = NULL;
            for (;;) {
                if (i >= n)
                    return -1; /* the quote is open at the line end: the record goes on */
                unsigned char c = s[i];
                if (c == '"') {
                    if (i + 1 < n && s[i + 1] == '"') { /* "" inside: one quote, in scratch */
                        if (copied == NULL) {
                            memcpy(out, cell.data, cell.len);
                            copied = out;
                        }
                        out[cell.len++] = '"';
                        i += 2;
                        continue;
                    }
                    i++;
                    break;
                }
                int len = c < 0x80 ? (c < 0x20 && c != '\t') || c == 0x7F ? 0 : 1
                                   : utf8_length(s + i, n - i);
                if (len == 0)
                    return -1;
                cell.ascii &= len == 1;
                if (copied != NULL)
                    memcpy(out + cell.len, s + i, len);
                cell.len += len;
                i += len;
            }
            if (copied != NULL) {
                cell.data = copied;
                out += cell.len;
            }
            if (i < n && s[i] != ',')
                return -1; /* text after the closing quote */
        }
        else {
            while (i < n && s[i] != ',') {
                unsigned char c = s[i];
                int len = c < 0x80 ? (c < 0x20 && c != '\t') || c == 0x7F || c == '"' ? 0 : 1
                                   : utf8_length(s + i, n - i);
                if (len == 0)
                    return -1;
                cell.ascii &= len == 1;
                cell.len += len;
                i += len;
            }
        }
        if (count <= max)
            cells[count] = cell;
        count++;
        if (i >= n)
            return count;
        i++; /* the comma */
    }
}

/* The cells of a cut line as the csv module gives them, a list of str. */
static PyObject *
cell_list(const Text *cells, Py_ssize_t count)
{
    PyObject *list = PyList_New(count);
    for (Py_ssize_t i = 0; list != NULL && i < count; i++) {
        PyObject *cell = PyUnicode_DecodeUTF8(cells[i].data, cells[i].len, "strict");
        if (cell == NULL)
            Py_CLEAR(list);
        else
            PyList_SET_ITEM(list, i, cell);
    }
    return list;
}

enum { SCAN_LIMIT, SCAN_NOT_PLAIN, SCAN_MORE };

/* scan(data, pos, line, limit, rejects): read the lines of `data` from byte `pos` (the start
 * of physical line `line` + 1), checking each record as add() does, until `limit` records, a
 * line it does not read (the csv module's to read), or no whole line left. Rejects go to the
 * list `rejects`. Returns (pos, line, records, rejected, stop), stop one of SCAN_*. */
static PyObject *
Checker_scan(Checker *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "scan(data, pos, line, limit, rejects)");
        return NULL;
    }
    Py_ssize_t pos = PyLong_AsSsize_t(args[1]);
    Py_ssize_t line = PyLong_AsSsize_t(args[2]);
    Py_ssize_t limit = PyLong_AsSsize_t(args[3]);
    PyObject *rejects = args[4];
    if (PyErr_Occurred())
        return NULL;
    if (!PyList_Check(rejects)) {
        PyErr_SetString(PyExc_TypeError, "rejects is a list");
        return NULL;
    }
    Py_buffer data;
    if (PyObject_GetBuffer(args[0], &data, PyBUF_SIMPLE) < 0)
        return NULL;
    const char *buf = (const char *)data.buf;
    Py_ssize_t size = data.len, records = 0, rejected = 0;
    int stop = SCAN_LIMIT, failed = 0;
    char *scratch = NULL;
    if (pos < 0 || pos > size) {
        PyErr_SetString(PyExc_ValueError, "pos is outside data");
        failed = 1;
    }
    else if (self->max_cells >= MAX_SCAN_CELLS)
        stop = SCAN_NOT_PLAIN, limit = 0; /* so wide a layout is read by the csv module */
    else if ((scratch = PyMem_Malloc(PLAIN_MAX)) == NULL) {
        PyErr_NoMemory();
        failed = 1;
    }
    Text cells[MAX_SCAN_CELLS + 1];
    while (!failed && records < limit) {
        const char *nl = memchr(buf + pos, '\n', size - pos);
        if (nl == NULL) {
            stop = SCAN_MORE;
            break;
        }
        const char *s = buf + pos;
        Py_ssize_t n = nl - s;
        if (n > 0 && s[n - 1] == '\r')
            n--;
        Py_ssize_t count = cut(s, n, scratch, cells, self->max_cells);
        if (count < 0) {
            stop = SCAN_NOT_PLAIN;
            break;
        }
        Py_ssize_t next_pos = nl - buf + 1;
        Verdict verdict = DECLINED;
        if (count <= self->max_cells) {
            int blank = 1;
            for (Py_ssize_t c = 0; c < count; c++) {
                cells[c] = stripped(cells[c]);
                blank &= cells[c].len == 0;
            }
            if (blank) { /* no record: an empty line, or only empty cells */
                pos = next_pos, line++;
                continue;
            }
            Text given[N_PHONES], bps[N_BPS];
            Text empty = {"", 0, 0, 1};
            for (Py_ssize_t p = 0; p < self->n_phones; p++) {
                Py_ssize_t at = self->phone_cell[p];
                given[self->phone_slot[p]] = at < count ? cells[at] : empty;
            }
            for (int b = 0; b < N_BPS; b++) {
                Py_ssize_t at = self->bp_cell[b];
                bps[b] = at >= 0 && at < count ? cells[at] : empty;
            }
            verdict = check_row(self, line + 1, given, bps);
        }
        if (verdict == FAILED) {
            failed = 1;
            break;
        }
        if (verdict == DECLINED) {
            /* cut again, unstripped and every cell, for the Python check */
            Text *all = count <= MAX_SCAN_CELLS ? cells : PyMem_Malloc(count * sizeof(Text));
            PyObject *number = all ? PyLong_FromSsize_t(line + 1) : NULL;
            PyObject *list = NULL;
            if (number != NULL) {
                cut(s, n, scratch, all, count);
                list = cell_list(all, count);
            }
            if (all != cells)
                PyMem_Free(all);
            PyObject *said = list ? slow(self, number, list) : NULL;
            Py_XDECREF(number);
            Py_XDECREF(list);
            if (said == NULL) {
                failed = 1;
                break;
            }
            if (said != Py_None) {
                PyObject *extended = PySequence_InPlaceConcat(rejects, said);
                Py_XDECREF(extended);
                rejected++;
                if (extended == NULL) {
                    Py_DECREF(said);
                    failed = 1;
                    break;
                }
            }
            Py_DECREF(said);
        }
        records++;
        pos = next_pos, line++;
    }
    PyMem_Free(scratch);
    PyBuffer_Release(&data);
    if (failed)
        return NULL;
    return Py_BuildValue("nnnni", pos, line, records, rejected, stop);
}

/* take(): the rows taken since the last take(), as marshal.dumps(list of row tuples) reads. */
static PyObject *
Checker_take(Checker *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *bytes = PyBytes_FromStringAndSize(NULL, 5 + self->out_len);
    if (bytes == NULL)
        return NULL;
    char *p = PyBytes_AS_STRING(bytes);
    *p++ = M_LIST;
    p = put_u32(p, (uint32_t)self->out_rows);
    if (self->out_len)
        memcpy(p, self->out, self->out_len);
    self->out_len = self->out_rows = 0;
    return bytes;
}

static PyMethodDef Checker_methods[] = {
    {"add", (PyCFunction)(void (*)(void))Checker_add, METH_FASTCALL,
     "add(line, cells): None when the row is taken, else the Python check's rejects."},
    {"scan", (PyCFunction)(void (*)(void))Checker_scan, METH_FASTCALL,
     "scan(data, pos, line, limit, rejects): check plain CSV lines of data from pos."},
    {"take", (PyCFunction)Checker_take, METH_NOARGS,
     "take(): the rows taken since the last take(), in marshal's format (a list of tuples)."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject CheckerType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "appliance._rowfast.Checker",
    .tp_basicsize = sizeof(Checker),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The import's row check for plain rows (add, scan, take); any other row goes to "
              "`slow`.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Checker_init,
    .tp_dealloc = (destructor)Checker_dealloc,
    .tp_methods = Checker_methods,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "appliance._rowfast",
    .m_doc = "The contact import's row check for plain rows, in C (see appliance/importing/rows.py).",
    .m_size = -1,
};

PyMODINIT_FUNC
PyInit__rowfast(void)
{
    if (PyType_Ready(&CheckerType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&CheckerType);
    if (PyModule_AddObject(m, "Checker", (PyObject *)&CheckerType) < 0) {
        Py_DECREF(&CheckerType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
