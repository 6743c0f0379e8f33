// The CSV reader's quote-free fast path (ts/data/csv.ts: csvTable, ColumnReader), in C++: the
// rows of text without quote characters cut into cells, each column kept as dictionary codes or
// as numbers, with EXACTLY the JavaScript reader's rules (ts/data/csv.ts is the reference and
// runs when this addon is absent):
//   - a row ends at the line break (1 or 2 bytes), a cell at the delimiter (any bytes without CR
//     or LF) or the line break; an empty line is skipped; every row's line is recorded;
//   - a column keeps a dictionary (bytes → code, FNV-1a hash) while it has at most POOL_SIZE
//     distinct texts; a new text when the dictionary holds POOL_SIZE texts, or EARLY_NUMBERS of
//     them in more than half of the rows so far while at most NON_NUMERIC_TEXTS texts were not
//     numbers, moves the column to numbers (Float64 + digits after the point, other texts by row);
//   - a text's number is cellNumber's (ts/data/csv.ts): a plain decimal of at most 15 digits is
//     m / 10^k (exact, as the JavaScript parser computes it), anything else JavaScript's Number()
//     of the text when it is finite and the text not blank, else NaN.
// What this file cannot decide exactly it does not guess: a new text that is not valid UTF-8
// (two byte strings could decode to one text), a 0x / 0o / 0b literal too long to be exact, and
// a column that would keep its cells as strings (more than NON_NUMERIC_TEXTS texts that are not
// numbers past the dictionary) stop the scan BEFORE the cell is taken (status kHandover): the
// JavaScript reader takes the state (csvExport) and reads the rest of the file itself.
//
// Entries: csvReader(columns, delimiter, n0, n1, split) → handle; csvScan(handle, buf, start, end,
// line, reserve, out) → status; csvExport(handle) → the state as typed arrays. And the other
// native piece of the data path: schemaInputs, applySchema's writing of a dataset's inputs.
#include <napi.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <locale.h>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>
#if defined(__APPLE__)
#include <xlocale.h>
#endif

#include "addon_args.h"
#include "threadpool.h"

namespace hydranet::cpu_addon {
namespace {

// The constants of ts/data/csv.ts (POOL_SIZE, EARLY_NUMBERS, NON_NUMERIC_TEXTS, FORMAT_OTHER).
constexpr int64_t kPoolSize = 4096;
constexpr int64_t kEarlyNumbers = 256;
constexpr size_t kNonNumericTexts = 8;
constexpr uint8_t kFormatOther = 255;

constexpr double kPowersOfTen[16] = {1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};

// Scan results (csvScan's return value).
constexpr int kDone = 0;      // every row of [start, end) taken
constexpr int kHandover = 1;  // stopped before a cell this file does not decide: out = [line, rowStart, column, cellStart]
constexpr int kRagged = 2;    // a row with the wrong number of fields: out = [line, rowStart]
constexpr int kOverflow = 3;  // more lines than an Int32Array holds (scan_rows only; csvScan throws)
constexpr int kHalted = 4;    // scan_rows only: asked to stop (take.halt()) before the row at stop.row

// The texts that are not plain decimals the second thread of a split scan looks up (csv_scan).
constexpr size_t kFrozenOthers = 64;

// A text's number: what it is, or that this file cannot tell exactly.
enum class Num { kNumber, kNaN, kUnknown };

// decimal() of ts/data/csv.ts: s[0, n) as [-]digits[.digits] with 1–15 digits → true, x and
// format (digits after the point when toFixed gives the text back, else kFormatOther).
bool plain_decimal(const uint8_t* s, size_t n, double* x, uint8_t* format) {
  const bool negative = n > 0 && s[0] == '-';
  const size_t lead = negative ? 1 : 0;
  uint64_t m = 0;
  int digits = 0;
  ptrdiff_t point = -1;
  for (size_t i = lead; i < n; ++i) {
    const uint8_t ch = s[i];
    if (ch >= '0' && ch <= '9') {
      m = m * 10 + (ch - '0');
      ++digits;
    } else if (ch == '.' && point < 0) {
      point = static_cast<ptrdiff_t>(i);
    } else {
      return false;
    }
  }
  if (digits == 0 || digits > 15) return false;
  const double v = point < 0 ? static_cast<double>(m) : static_cast<double>(m) / kPowersOfTen[n - 1 - point];
  const ptrdiff_t whole = (point < 0 ? static_cast<ptrdiff_t>(n) : point) - static_cast<ptrdiff_t>(lead);
  *format = kFormatOther;
  if (whole > 0 && point != static_cast<ptrdiff_t>(n) - 1 && !(whole > 1 && s[lead] == '0') && !(negative && m == 0)) {
    *format = point < 0 ? 0 : static_cast<uint8_t>(n - 1 - point);
  }
  *x = negative ? -v : v;
  return true;
}

// Whether s[0, n) is well-formed UTF-8 (Unicode Table 3-7: no overlong form, no surrogate, at
// most U+10FFFF), so that it decodes without a replacement character and no other byte string
// decodes to its text.
bool valid_utf8(const uint8_t* s, size_t n) {
  size_t i = 0;
  while (i < n) {
    const uint8_t b = s[i];
    if (b < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint8_t lo = 0x80, hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) len = 2;
    else if (b == 0xe0) len = 3, lo = 0xa0;
    else if (b >= 0xe1 && b <= 0xec) len = 3;
    else if (b == 0xed) len = 3, hi = 0x9f;
    else if (b >= 0xee && b <= 0xef) len = 3;
    else if (b == 0xf0) len = 4, lo = 0x90;
    else if (b >= 0xf1 && b <= 0xf3) len = 4;
    else if (b == 0xf4) len = 4, hi = 0x8f;
    else return false;
    if (i + len > n) return false;
    if (s[i + 1] < lo || s[i + 1] > hi) return false;
    for (size_t j = 2; j < len; ++j) {
      if (s[i + j] < 0x80 || s[i + j] > 0xbf) return false;
    }
    i += len;
  }
  return true;
}

// The length of the JavaScript white space (WhiteSpace or LineTerminator: what Number() trims)
// that starts at s[i] (0 when none), for well-formed UTF-8.
size_t space_at(const uint8_t* s, size_t i, size_t n) {
  const uint8_t b = s[i];
  if (b == 0x09 || b == 0x0a || b == 0x0b || b == 0x0c || b == 0x0d || b == 0x20) return 1;
  if (b == 0xc2 && i + 1 < n && s[i + 1] == 0xa0) return 2;  // U+00A0
  if (i + 2 >= n) return 0;
  const uint8_t c = s[i + 1], d = s[i + 2];
  if (b == 0xe1 && c == 0x9a && d == 0x80) return 3;                               // U+1680
  if (b == 0xe2 && c == 0x80 && (d <= 0x8a || d == 0xa8 || d == 0xa9 || d == 0xaf)) return 3;  // U+2000–200A, 2028, 2029, 202F
  if (b == 0xe2 && c == 0x81 && d == 0x9f) return 3;                               // U+205F
  if (b == 0xe3 && c == 0x80 && d == 0x80) return 3;                               // U+3000
  if (b == 0xef && c == 0xbb && d == 0xbf) return 3;                               // U+FEFF
  return 0;
}

// The length of the JavaScript white space that ends at s[e] (exclusive), 0 when none.
size_t space_before(const uint8_t* s, size_t from, size_t e) {
  for (size_t len = 1; len <= 3 && len <= e - from; ++len) {
    if (space_at(s, e - len, e) == len) return len;
  }
  return 0;
}

bool is_digit(uint8_t b) { return b >= '0' && b <= '9'; }

#if defined(__GLIBC__) || defined(__APPLE__)
double c_strtod(const char* s) {
  static locale_t c_locale = newlocale(LC_ALL_MASK, "C", static_cast<locale_t>(nullptr));
  return strtod_l(s, nullptr, c_locale);
}
#else
double c_strtod(const char* s) { return std::strtod(s, nullptr); }
#endif

// cellNumber() of ts/data/csv.ts for a well-formed UTF-8 text that is not a plain decimal:
// Number() of it when finite and the text is not blank, else NaN; kUnknown for a 0x / 0o / 0b
// literal whose value may not be exact in a double.
Num general_number(const uint8_t* s, size_t n, double* x) {
  size_t i = 0, e = n;
  while (i < e) {
    const size_t k = space_at(s, i, e);
    if (k == 0) break;
    i += k;
  }
  while (e > i) {
    const size_t k = space_before(s, i, e);
    if (k == 0) break;
    e -= k;
  }
  if (i == e) return Num::kNaN;  // blank: Number() gives 0, cellNumber NaN
  for (size_t j = i; j < e; ++j) {
    if (s[j] >= 0x80) return Num::kNaN;  // no literal holds a character outside ASCII
  }
  // 0x / 0o / 0b (no sign).
  if (e - i > 2 && s[i] == '0' && (s[i + 1] | 0x20) != 0 && std::strchr("xob", s[i + 1] | 0x20) != nullptr) {
    const uint8_t kind = s[i + 1] | 0x20;
    const int radix = kind == 'x' ? 16 : kind == 'o' ? 8 : 2;
    const int bits = kind == 'x' ? 4 : kind == 'o' ? 3 : 1;
    uint64_t v = 0;
    size_t used = 0;
    for (size_t j = i + 2; j < e; ++j) {
      const uint8_t c = s[j];
      int d = -1;
      if (is_digit(c)) d = c - '0';
      else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') d = (c | 0x20) - 'a' + 10;
      if (d < 0 || d >= radix) return Num::kNaN;
      used += bits;
      if (used > 52) return Num::kUnknown;  // maybe beyond 2^53: rounding not mirrored here
      v = v * radix + d;
    }
    *x = static_cast<double>(v);
    return Num::kNumber;
  }
  // StrDecimalLiteral: [+-] (Infinity | digits [. digits] [e [+-] digits] | . digits [e ...]).
  size_t j = i;
  if (s[j] == '+' || s[j] == '-') ++j;
  static const char kInfinity[] = "Infinity";
  if (e - j == 8 && std::memcmp(s + j, kInfinity, 8) == 0) return Num::kNaN;  // not finite
  size_t mantissa = 0;
  while (j < e && is_digit(s[j])) ++j, ++mantissa;
  if (j < e && s[j] == '.') {
    ++j;
    while (j < e && is_digit(s[j])) ++j, ++mantissa;
  }
  if (mantissa == 0) return Num::kNaN;
  if (j < e && (s[j] | 0x20) == 'e') {
    ++j;
    if (j < e && (s[j] == '+' || s[j] == '-')) ++j;
    size_t exponent = 0;
    while (j < e && is_digit(s[j])) ++j, ++exponent;
    if (exponent == 0) return Num::kNaN;
  }
  if (j != e) return Num::kNaN;
  // strtod (C locale) rounds correctly, as Number() does; it takes exactly this grammar.
  std::string text(reinterpret_cast<const char*>(s + i), e - i);
  const double v = c_strtod(text.c_str());
  if (!std::isfinite(v)) return Num::kNaN;
  *x = v;
  return Num::kNumber;
}

// parseCell() of ts/data/csv.ts: the number and format of a well-formed text.
Num parse_cell(const uint8_t* s, size_t n, double* x, uint8_t* format) {
  if (plain_decimal(s, n, x, format)) return Num::kNumber;
  *format = kFormatOther;
  const Num r = general_number(s, n, x);
  if (r == Num::kNaN) *x = std::nan("");
  return r;
}

uint32_t fnv1a(const uint8_t* s, size_t n) {
  uint32_t h = 0x811c9dc5u;
  for (size_t i = 0; i < n; ++i) h = (h ^ s[i]) * 0x01000193u;
  return h;
}

// A column's dictionary: entry k is text k (its bytes at starts[k], lengths[k]), found by its
// FNV-1a hash in an open-addressing table.
struct Dict {
  std::vector<int32_t> slots = std::vector<int32_t>(64, 0);  // entry + 1, 0 empty
  std::vector<uint32_t> hashes;
  std::vector<int32_t> starts, lengths;
  std::vector<uint8_t> bytes;

  int64_t texts() const { return static_cast<int64_t>(hashes.size()); }

  int32_t find(const uint8_t* s, size_t len, uint32_t h) const {
    const size_t mask = slots.size() - 1;
    for (size_t k = h & mask;; k = (k + 1) & mask) {
      const int32_t e = slots[k] - 1;
      if (e < 0) return -1;
      if (hashes[e] != h || static_cast<size_t>(lengths[e]) != len) continue;
      const uint8_t* t = bytes.data() + starts[e];
      size_t j = 0;
      while (j < len && t[j] == s[j]) ++j;  // short texts, mostly: no call
      if (j == len) return e;
    }
  }
};

// One column (ColumnReader of ts/data/csv.ts, without its cells form).
struct Column : Dict {
  bool dictionary = true;
  int64_t n = 0;
  std::vector<double> text_numbers;
  std::vector<uint8_t> text_formats;
  std::vector<int32_t> codes;
  // Numbers.
  std::vector<double> numbers;
  std::vector<uint8_t> formats;
  std::vector<int32_t> other_rows, other_ids;  // rows whose format is kFormatOther, and their text
  std::vector<std::string> other_texts;
  std::unordered_map<std::string, int32_t> other_index;
  // The distinct texts seen that are not numbers.
  std::vector<std::string> non_numeric;

  void insert(int32_t e) {
    const size_t mask = slots.size() - 1;
    size_t k = hashes[e] & mask;
    while (slots[k] != 0) k = (k + 1) & mask;
    slots[k] = e + 1;
  }

  int32_t add_text(const uint8_t* s, size_t len, uint32_t h, double x, uint8_t format) {
    const int32_t e = static_cast<int32_t>(hashes.size());
    hashes.push_back(h);
    starts.push_back(static_cast<int32_t>(bytes.size()));
    lengths.push_back(static_cast<int32_t>(len));
    bytes.insert(bytes.end(), s, s + len);
    text_numbers.push_back(x);
    text_formats.push_back(format);
    if (x != x) non_numeric.emplace_back(reinterpret_cast<const char*>(s), len);
    if (4 * hashes.size() > 3 * slots.size()) {
      slots.assign(slots.size() * 2, 0);
      for (int32_t k = 0; k <= e; ++k) insert(k);
    } else {
      insert(e);
    }
    return e;
  }

  bool is_non_numeric(const uint8_t* s, size_t len) const {
    for (const std::string& t : non_numeric) {
      if (t.size() == len && (len == 0 || std::memcmp(t.data(), s, len) == 0)) return true;
    }
    return false;
  }

  // leaveDictionary() for a column that looks numeric.
  void to_numbers(int64_t reserve) {
    numbers.reserve(static_cast<size_t>(std::max(reserve, n)));
    formats.reserve(numbers.capacity());
    numbers.resize(static_cast<size_t>(n));
    formats.resize(static_cast<size_t>(n));
    std::vector<int32_t> other_of(hashes.size(), -1);
    for (int64_t r = 0; r < n; ++r) {
      const int32_t k = codes[r];
      numbers[r] = text_numbers[k];
      formats[r] = text_formats[k];
      if (text_formats[k] == kFormatOther) {
        if (other_of[k] < 0) other_of[k] = other_id(bytes.data() + starts[k], static_cast<size_t>(lengths[k]));
        other_rows.push_back(static_cast<int32_t>(r));
        other_ids.push_back(other_of[k]);
      }
    }
    dictionary = false;
    std::vector<int32_t>().swap(codes);
    std::vector<int32_t>().swap(slots);
  }

  int32_t other_id(const uint8_t* s, size_t len) {
    std::string t(reinterpret_cast<const char*>(s), len);
    auto it = other_index.find(t);
    if (it != other_index.end()) return it->second;
    const int32_t id = static_cast<int32_t>(other_texts.size());
    other_index.emplace(t, id);
    other_texts.push_back(std::move(t));
    return id;
  }
};

struct Frozen;
struct Shadow;

struct Reader {
  std::vector<uint8_t> delimiter;
  int n0 = '\n', n1 = -1;
  bool simple = true;
  std::vector<Column> columns;
  std::vector<int32_t> lines;
  int64_t reserve = 0;
  // A range of at least `split` bytes is scanned by two threads (0: never; see csv_scan).
  int64_t split = 0;
  int64_t split_rows = 0;  // rows the second thread of a split scan took (csvExport's splitRows)
  bool shadow_always = false;  // the second half scanned as a second thread would, even on the caller (tests)
  int split_misses = 0;        // split scans in a row whose second thread took under a quarter of its half
  std::vector<Frozen> frozen;
  std::vector<Shadow> shadows;
  std::vector<int32_t> shadow_lines;

  bool delimiter_at(const uint8_t* buf, size_t i, size_t end) const {
    const size_t d = delimiter.size();
    if (buf[i] != delimiter[0] || i + d > end) return false;
    for (size_t j = 1; j < d; ++j) {
      if (buf[i + j] != delimiter[j]) return false;
    }
    return true;
  }
  bool line_break_at(const uint8_t* buf, size_t i, size_t end) const {
    return buf[i] == n0 && (n1 < 0 || (i + 1 < end && buf[i + 1] == n1));
  }
  // fieldEnd(): the first delimiter or line break from i, else end.
  size_t field_end(const uint8_t* buf, size_t i, size_t end) const {
    const int d0 = delimiter[0];
    if (simple) {
      for (; i < end; ++i) {
        if (buf[i] == d0 || buf[i] == n0) return i;
      }
      return end;
    }
    for (; i < end; ++i) {
      const int b = buf[i];
      if ((b == d0 && delimiter_at(buf, i, end)) || (b == n0 && line_break_at(buf, i, end))) return i;
    }
    return end;
  }
};

// Takes the cell buf[from, to) into column c; false (nothing taken) when this file cannot.
bool take_cell(Column& c, const uint8_t* s, size_t len, int64_t reserve) {
  if (c.dictionary) {
    const uint32_t h = fnv1a(s, len);
    int32_t k = c.find(s, len, h);
    if (k < 0) {
      if (!valid_utf8(s, len)) return false;
      const int64_t size = c.texts();
      const size_t nn = c.non_numeric.size();
      if (size == kPoolSize || (size >= kEarlyNumbers && 2 * size > c.n && nn <= kNonNumericTexts)) {
        if (nn > kNonNumericTexts) return false;  // the column goes on as cells
        double x;
        uint8_t format;
        if (len > 0 && parse_cell(s, len, &x, &format) == Num::kUnknown) return false;
        if (len == 0 || x != x) {
          if (!c.is_non_numeric(s, len) && nn == kNonNumericTexts) return false;
        }
        c.to_numbers(reserve);
        // falls through to the numbers below
      } else {
        double x;
        uint8_t format;
        if (parse_cell(s, len, &x, &format) == Num::kUnknown) return false;
        k = c.add_text(s, len, h, x, format);
      }
    }
    if (c.dictionary) {
      c.codes.push_back(k);
      ++c.n;
      return true;
    }
  }
  double x;
  uint8_t format;
  if (len == 0) {
    x = std::nan("");
    format = kFormatOther;
  } else if (!plain_decimal(s, len, &x, &format) || format == kFormatOther) {
    if (!valid_utf8(s, len)) return false;
    if (parse_cell(s, len, &x, &format) == Num::kUnknown) return false;
  }
  if (x != x && !c.is_non_numeric(s, len)) {
    if (c.non_numeric.size() == kNonNumericTexts) return false;  // the column goes on as cells
    c.non_numeric.emplace_back(reinterpret_cast<const char*>(s), len);
  }
  const int64_t r = c.n++;
  c.numbers.push_back(x);
  c.formats.push_back(format);
  if (format == kFormatOther) {
    c.other_rows.push_back(static_cast<int32_t>(r));
    c.other_ids.push_back(c.other_id(s, len));
  }
  return true;
}

// take_cell for the columns themselves.
struct TakeLive {
  int64_t reserve;
  bool operator()(Column& c, const uint8_t* s, size_t len) const { return take_cell(c, s, len, reserve); }
  static constexpr bool halt() { return false; }
};

// A split scan (csv_scan): the first thread takes the first half of a range's rows into the
// columns as always; the second takes the rest into shadows, reading each column as it was when
// the call began (a copy: the first thread changes the columns meanwhile) and changing nothing:
// a cell the dictionary held then, a plain decimal, or a text of a numeric column that is not a
// plain decimal but was seen before (a missing value, say). At the first cell that could change
// a column (a new text, a new missing marker, anything take_cell decides) or a ragged row, the
// second thread stops at the row's start; it also stops at its next row once the first thread
// is done with its half (a second thread that the machine runs late is not waited for). Its rows
// are then appended in order, and the first thread goes on from where it stopped: the columns,
// lines and errors are exactly a single thread's. Its rows are dropped (and scanned again) when
// the first half stopped, or changed a column from dictionary codes to numbers.

// A column as it was when a split scan began, for its second thread (read only).
struct Frozen {
  bool dictionary = true;
  Dict dict;  // a copy of the column's (which only grows: its size tells whether it is current)
  // A numeric column: its first kFrozenOthers texts that are not plain decimals (id = index),
  // their numbers, and whether take_cell would take them without a change (a text that is not a
  // number: already among the column's non-numeric texts).
  std::vector<std::string> others;
  std::vector<double> other_x;
  std::vector<char> other_ok;

  // Brings the copy up to date with c (a dictionary grows and other texts are added, in order).
  void update(const Column& c) {
    if (dictionary != c.dictionary) *this = Frozen(), dictionary = c.dictionary;
    if (dictionary) {
      if (dict.texts() != c.texts()) dict = static_cast<const Dict&>(c);
      return;
    }
    const size_t want = std::min(c.other_texts.size(), kFrozenOthers);
    for (size_t k = others.size(); k < want; ++k) {
      const std::string& t = c.other_texts[k];
      const auto* s = reinterpret_cast<const uint8_t*>(t.data());
      double x = std::nan("");
      uint8_t format = kFormatOther;
      const bool known = t.empty() || parse_cell(s, t.size(), &x, &format) != Num::kUnknown;
      others.push_back(t);
      other_x.push_back(x);
      other_ok.push_back(known && (x == x || c.is_non_numeric(s, t.size())));
    }
  }
};

// The rows a split scan's second thread took for one column (room reserved beforehand: it never
// allocates), appended to the column's once the first thread is done.
struct Shadow {
  const Frozen* frozen = nullptr;
  bool dictionary = true;
  int64_t n = 0;
  std::vector<int32_t> codes;
  std::vector<double> numbers;
  std::vector<uint8_t> formats;
  std::vector<int32_t> other_rows, other_ids;

  int32_t find(const uint8_t* s, size_t len, uint32_t h) const { return frozen->dict.find(s, len, h); }

  // Starts over for up to `rows` rows of column `f`.
  void reset(const Frozen& f, size_t rows) {
    frozen = &f;
    dictionary = f.dictionary;
    n = 0;
    codes.clear(), numbers.clear(), formats.clear(), other_rows.clear(), other_ids.clear();
    if (dictionary) {
      codes.reserve(rows);
    } else {
      numbers.reserve(rows), formats.reserve(rows), other_rows.reserve(rows), other_ids.reserve(rows);
    }
  }

  // Keeps the first `rows` rows (the cells of a row begun after them dropped).
  void keep(int64_t rows) {
    if (dictionary) {
      codes.resize(static_cast<size_t>(rows));
    } else {
      numbers.resize(static_cast<size_t>(rows)), formats.resize(static_cast<size_t>(rows));
      while (!other_rows.empty() && other_rows.back() >= rows) other_rows.pop_back(), other_ids.pop_back();
    }
    n = rows;
  }
};

// take_cell for a shadow: the cells the column takes without a change (see Frozen); false
// otherwise (the second thread stops).
bool take_shadow(Shadow& c, const uint8_t* s, size_t len);

// The second thread's take: take_shadow, and a flag the first thread raises when it is done, so
// that the second stops at its next row instead of being waited for.
struct TakeShadow {
  const std::atomic<bool>* halted;
  bool operator()(Shadow& c, const uint8_t* s, size_t len) const { return take_shadow(c, s, len); }
  bool halt() const { return halted->load(std::memory_order_relaxed); }
};

bool take_shadow(Shadow& c, const uint8_t* s, size_t len) {
  if (c.dictionary) return false;  // a text the dictionary did not hold
  const Frozen& f = *c.frozen;
  for (size_t k = 0; k < f.others.size(); ++k) {
    const std::string& t = f.others[k];
    if (t.size() != len || (len > 0 && std::memcmp(t.data(), s, len) != 0)) continue;
    if (!f.other_ok[k]) return false;
    c.other_rows.push_back(static_cast<int32_t>(c.n++));
    c.other_ids.push_back(static_cast<int32_t>(k));
    c.numbers.push_back(f.other_x[k]);
    c.formats.push_back(kFormatOther);
    return true;
  }
  return false;
}

// Where scan_rows stopped: its status, the start of the row it stopped in, the column and the
// cell's start (kHandover).
struct Stop {
  int status = kDone;
  size_t row = 0, column = 0, cell = 0;
};

// Takes the rows of buf[p, e) into `columns` (Column or Shadow) and their lines into `lines`,
// `line` the line of the row before (updated: the line of the last row begun). take(col, s, len)
// takes a cell the common paths below do not; take.halt() true stops the scan before a row.
// The cells' hot loop: appending a value is inlined (push_back is not, by itself).
template <class Col, class Take>
[[gnu::flatten]] Stop scan_rows(const Reader& r, std::vector<Col>& columns, std::vector<int32_t>& lines, const uint8_t* b, size_t p, size_t e,
               int64_t& line, Take take) {
  const size_t skip = r.delimiter.size();
  const size_t break_length = r.n1 < 0 ? 1 : 2;
  const size_t last = columns.size() - 1;
  const int d0 = r.delimiter[0];
  Stop stop;
  stop.row = stop.cell = p;
  while (p < e) {
    if (take.halt()) {
      stop.status = kHalted;
      stop.row = p;
      return stop;
    }
    if (line >= std::numeric_limits<int32_t>::max()) {
      stop.status = kOverflow;
      return stop;
    }
    ++line;
    if (r.line_break_at(b, p, e)) {
      p += break_length;
      continue;
    }
    stop.row = p;
    for (size_t k = 0, at = p;; ++k) {
      Col& col = columns[k];
      // The common cells in one pass over their bytes: a text the dictionary holds, or a plain
      // decimal that toFixed gives back; anything else through take.
      size_t to = at;
      bool taken = false;
      if (col.dictionary) {
        uint32_t h = 0x811c9dc5u;
        if (r.simple) {
          for (; to < e; ++to) {
            const uint8_t c = b[to];
            if (c == d0 || c == r.n0) break;
            h = (h ^ c) * 0x01000193u;
          }
        } else {
          to = r.field_end(b, at, e);
          h = fnv1a(b + at, to - at);
        }
        const int32_t code = col.find(b + at, to - at, h);
        if (code >= 0) {
          col.codes.push_back(code);
          ++col.n;
          taken = true;
        }
      } else {
        const bool negative = to < e && b[to] == '-';
        if (negative) ++to;
        const size_t lead = to;
        uint64_t m = 0;
        int digits = 0;
        size_t point = SIZE_MAX;
        for (; to < e; ++to) {
          const uint8_t c = b[to];
          if (c >= '0' && c <= '9') {
            m = m * 10 + (c - '0');
            ++digits;
          } else if (c == '.' && point == SIZE_MAX) {
            point = to;
          } else {
            break;
          }
        }
        const bool at_end = to == e || (r.simple ? b[to] == d0 || b[to] == r.n0
                                                  : (b[to] == d0 && r.delimiter_at(b, to, e)) || (b[to] == r.n0 && r.line_break_at(b, to, e)));
        if (at_end) {
          const size_t whole = (point == SIZE_MAX ? to : point) - lead;
          if (digits > 0 && digits <= 15 && whole > 0 && point != to - 1 && !(whole > 1 && b[lead] == '0') && !(negative && m == 0)) {
            const double v = point == SIZE_MAX ? static_cast<double>(m) : static_cast<double>(m) / kPowersOfTen[to - 1 - point];
            col.numbers.push_back(negative ? -v : v);
            col.formats.push_back(point == SIZE_MAX ? 0 : static_cast<uint8_t>(to - 1 - point));
            ++col.n;
            taken = true;
          }
        } else {
          to = r.field_end(b, to, e);
        }
      }
      if (!taken && !take(col, b + at, to - at)) {
        stop.status = kHandover;
        stop.column = k;
        stop.cell = at;
        return stop;
      }
      const bool row_done = to == e || b[to] == r.n0;
      if (row_done != (k == last)) {
        stop.status = kRagged;
        return stop;
      }
      if (row_done) {
        p = to + break_length;
        break;
      }
      at = to + skip;
    }
    lines.push_back(static_cast<int32_t>(line));
  }
  return stop;
}

// The split point of buf[start, end) for a split scan: just after the first line break from the
// middle, when rows follow it; 0 otherwise.
size_t split_point(const Reader& r, const uint8_t* b, size_t start, size_t end) {
  const size_t break_length = r.n1 < 0 ? 1 : 2;
  for (size_t i = start + (end - start) / 2; i < end; ++i) {
    if (r.line_break_at(b, i, end)) return i + break_length < end ? i + break_length : 0;
  }
  return 0;
}

// Scans buf[start, end) (see csv_scan) in two threads, split at mid (see Frozen): the result is
// the single-threaded scan's. Throws only on the calling thread.
Stop scan_split(Reader& r, const uint8_t* b, size_t start, size_t mid, size_t end, int64_t& line) {
  const size_t columns = r.columns.size();
  r.frozen.resize(columns);
  r.shadows.resize(columns);
  // Room for every row the second half can hold: a row of c cells has at least c - 1 delimiters.
  const size_t min_row = std::max<size_t>(1, (columns - 1) * r.delimiter.size());
  const size_t rows = (end - mid) / min_row + 1;
  for (size_t k = 0; k < columns; ++k) {
    r.frozen[k].update(r.columns[k]);
    r.shadows[k].reset(r.frozen[k], rows);
  }
  r.shadow_lines.clear();
  r.shadow_lines.reserve(rows);
  const TakeLive live{r.reserve};
  int64_t line_a = line, line_b = 0;
  Stop stop_a, stop_b;
  std::exception_ptr failed, failed_b;  // each half's exception, caught where it ran
  bool a_done = false;
  std::atomic<bool> b_claimed{false};
  const std::thread::id caller = std::this_thread::get_id();
  std::atomic<bool> halted{false};
  // The second half may run on a worker, where nothing may throw (threadpool.h): its appends'
  // std::bad_alloc is caught here, and the caller then scans those rows itself.
  const auto run_b = [&] {
    try {
      stop_b = scan_rows(r, r.shadows, r.shadow_lines, b, mid, end, line_b, TakeShadow{&halted});
    } catch (...) {
      failed_b = std::current_exception();
    }
  };
  const auto run_a = [&] {
    a_done = true;
    try {
      stop_a = scan_rows(r, r.columns, r.lines, b, start, mid, line_a, live);
    } catch (...) {
      failed = std::current_exception();
    }
    // The second thread stops at its next row: the caller goes on from there (unless shadow_always).
    if (!r.shadow_always) halted.store(true, std::memory_order_relaxed);
  };
  // The first half on the calling thread (it may allocate); the second on a worker. When no
  // worker has taken it by the time the first half is done, the caller claims it and goes on
  // with its rows itself, as one thread would (no shadow, no copy), unless shadow_always.
  bool b_ran = false;
  auto task = [&](int, float*) {
    const bool on_caller = std::this_thread::get_id() == caller;
    if (on_caller && !a_done) return run_a();
    if (b_claimed.exchange(true)) return;
    if (!on_caller || r.shadow_always) run_b(), b_ran = true;
  };
  ThreadPool::instance().parallel_for(2, 2, 0, task);
  if (!a_done) run_a();
  if (!b_claimed.exchange(true) && r.shadow_always) run_b(), b_ran = true;
  if (failed) std::rethrow_exception(failed);
  // A second half that failed (out of memory in its speculative appends) is dropped: the caller
  // scans those rows itself, as when no worker took them (and fails there if memory is short).
  if (failed_b) b_ran = false;
  line = line_a;
  if (stop_a.status != kDone) return stop_a;
  size_t p = mid;
  bool same = b_ran;
  for (size_t k = 0; k < columns; ++k) same = same && r.columns[k].dictionary == r.frozen[k].dictionary;
  if (same) {
    const int64_t taken = static_cast<int64_t>(r.shadow_lines.size());
    for (size_t k = 0; k < columns; ++k) {
      Column& c = r.columns[k];
      Shadow& s = r.shadows[k];
      s.keep(taken);
      if (c.dictionary) {
        c.codes.insert(c.codes.end(), s.codes.begin(), s.codes.end());
      } else {
        for (const int32_t row : s.other_rows) c.other_rows.push_back(static_cast<int32_t>(c.n + row));
        c.other_ids.insert(c.other_ids.end(), s.other_ids.begin(), s.other_ids.end());
        c.numbers.insert(c.numbers.end(), s.numbers.begin(), s.numbers.end());
        c.formats.insert(c.formats.end(), s.formats.begin(), s.formats.end());
      }
      c.n += taken;
    }
    for (const int32_t l : r.shadow_lines) r.lines.push_back(static_cast<int32_t>(line_a + l));
    r.split_rows += taken;
    // The lines the second thread went through: all, or up to the row it stopped in or before.
    line = line_a + (stop_b.status == kDone || stop_b.status == kHalted ? line_b : line_b - 1);
    p = stop_b.status == kDone ? end : stop_b.row;
  }
  // A second thread that takes little (no core free for it, or new texts all along) costs more
  // than it gives: after two such splits in a row, this reader scans on one thread.
  if (!r.shadow_always) {
    if (4 * (p - mid) < end - mid) {
      if (++r.split_misses >= 2) r.split = 0;
    } else {
      r.split_misses = 0;
    }
  }
  if (p >= end) return Stop();
  return scan_rows(r, r.columns, r.lines, b, p, end, line, live);
}

// The CSV entries' arguments: the cpu addon's, with the values themselves.
class CsvArgs : public Args {
 public:
  CsvArgs(const Napi::CallbackInfo& info, const char* fn, size_t count) : Args(info, fn, count) {}
  Napi::Value at(size_t i) const { return info_[i]; }

  Reader& reader(size_t i) const {
    const Napi::Value v = info_[i];
    if (!v.IsExternal()) type_error("expected a CSV reader (from csvReader) for reader");
    return *v.As<Napi::External<Reader>>().Data();
  }

  // v as a typed array of T (napi type `type`); a TypeError naming `what` otherwise.
  template <class T>
  Napi::TypedArrayOf<T> typed_at(const Napi::Value& v, napi_typedarray_type type, const char* what) const {
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type) type_error(std::string("expected ") + what);
    return v.As<Napi::TypedArrayOf<T>>();
  }

  // Argument i: a JS array of typed arrays of type T, `count` of them.
  template <class T>
  std::vector<Napi::TypedArrayOf<T>> typed_list(size_t i, napi_typedarray_type type, size_t count, const char* what) const {
    const Napi::Value v = info_[i];
    if (!v.IsArray() || v.As<Napi::Array>().Length() != count) {
      type_error(std::string("expected an array of ") + std::to_string(count) + " " + what);
    }
    const Napi::Array list = v.As<Napi::Array>();
    std::vector<Napi::TypedArrayOf<T>> out;
    for (uint32_t k = 0; k < count; ++k) out.push_back(typed_at<T>(list.Get(k), type, what));
    return out;
  }

  Napi::Uint8Array u8(size_t i, const char* name) const {
    const Napi::Value v = info_[i];
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      type_error(std::string("expected a Uint8Array for ") + name);
    }
    return v.As<Napi::Uint8Array>();
  }
};

// A new ArrayBuffer holding a copy of `bytes` bytes from p.
Napi::ArrayBuffer buffer_of(Napi::Env env, const void* p, size_t bytes) {
  Napi::ArrayBuffer b = Napi::ArrayBuffer::New(env, bytes);
  if (bytes > 0) std::memcpy(b.Data(), p, bytes);
  return b;
}

// A typed array of v's values: v's own memory, handed over (an external buffer that frees it),
// or a copy where the runtime takes no external memory.
template <class T, class A>
A typed(Napi::Env env, std::vector<T>&& v) {
  const size_t n = v.size();
  if (n > 0) {
    auto* owned = new std::vector<T>(std::move(v));
    napi_value ab;
    const napi_status st = napi_create_external_arraybuffer(
        env, owned->data(), n * sizeof(T), [](napi_env, void*, void* hint) { delete static_cast<std::vector<T>*>(hint); },
        owned, &ab);
    if (st == napi_ok) return A::New(env, n, Napi::ArrayBuffer(env, ab), 0);
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) {
      napi_value ignored;
      napi_get_and_clear_last_exception(env, &ignored);
    }
    v = std::move(*owned);
    delete owned;
  }
  return A::New(env, n, buffer_of(env, v.data(), n * sizeof(T)), 0);
}

// The texts of `list` as one Uint8Array of their bytes and an Int32Array of their ends.
void put_texts(Napi::Env env, Napi::Object o, const char* bytes_key, const char* ends_key, const std::vector<std::string>& list) {
  std::vector<uint8_t> bytes;
  std::vector<int32_t> ends;
  for (const std::string& t : list) {
    bytes.insert(bytes.end(), t.begin(), t.end());
    ends.push_back(static_cast<int32_t>(bytes.size()));
  }
  o.Set(bytes_key, typed<uint8_t, Napi::Uint8Array>(env, std::move(bytes)));
  o.Set(ends_key, typed<int32_t, Napi::Int32Array>(env, std::move(ends)));
}

}  // namespace

namespace csv_entries {

// Registers an entry that takes CsvArgs (addon_args.h's Export, for these arguments).
template <auto F>
using Export = hydranet::napi::Registrar<kAddon, CsvArgs, F>;

// csvReader(columns, delimiter, n0, n1, split) → a reader (an external) for rows of `columns` cells:
// the delimiter's UTF-8 bytes (no CR, LF or quote), the line break's first byte and its second
// (-1: none); csvScan splits a range of at least `split` bytes between two threads of the cpu
// addon's pool (0: never; the result is the same, see scan_split); -split: the same, the second
// half scanned as the second thread does even when no worker took it (to test the merge).
Napi::Value csv_reader(const CsvArgs& a) {
  const int64_t columns = a.integer(0, "columns", 1, 1 << 24);
  Napi::Uint8Array d = a.u8(1, "delimiter");
  if (d.ElementLength() == 0) a.range_error("expected a non-empty delimiter");
  auto r = std::make_unique<Reader>();
  r->delimiter.assign(d.Data(), d.Data() + d.ElementLength());
  r->n0 = static_cast<int>(a.integer(2, "n0", 0, 255));
  r->n1 = static_cast<int>(a.integer(3, "n1", -1, 255));
  for (uint8_t b : r->delimiter) {
    if (b == '\r' || b == '\n' || b == '"') a.range_error("expected a delimiter without CR, LF or a quote");
  }
  if ((r->n0 != '\r' && r->n0 != '\n') || (r->n1 >= 0 && !(r->n0 == '\r' && r->n1 == '\n'))) {
    a.range_error("expected a line break of \\n, \\r or \\r\\n");
  }
  const int64_t split = a.integer(4, "split", -std::numeric_limits<int32_t>::max(), std::numeric_limits<int32_t>::max());
  r->split = split < 0 ? -split : split;
  r->shadow_always = split < 0;
  r->simple = r->delimiter.size() == 1 && r->n1 < 0;
  r->columns.resize(static_cast<size_t>(columns));
  Reader* p = r.release();
  return Napi::External<Reader>::New(a.env(), p, [](Napi::Env, Reader* q) { delete q; });
}
const Export<csv_reader> export_csv_reader("csvReader", 5);

// csvScan(reader, buf, start, end, line, reserve, out) → kDone, kHandover or kRagged: takes the
// rows of buf[start, end) (text without quotes, after the header; each row ends on a line break
// except, at the end of the input, the last), `line` the line of the row before. out (Int32Array
// of 4): [the line of the last row begun, the row's start, the column and the cell's start where
// the scan stopped]. reserve > 0: the rows to expect in all (the columns' arrays grow once).
Napi::Value csv_scan(const CsvArgs& a) {
  Reader& r = a.reader(0);
  Napi::Uint8Array buf = a.u8(1, "buf");
  const int64_t size = static_cast<int64_t>(buf.ElementLength());
  if (size > std::numeric_limits<int32_t>::max()) a.range_error("expected a buf of at most 2^31 - 1 bytes (out holds Int32 offsets)");
  const int64_t start = a.integer(2, "start", 0, size);
  const int64_t end = a.integer(3, "end", start, size);
  int64_t line = a.integer(4, "line", 0, std::numeric_limits<int32_t>::max());
  const int64_t reserve = a.integer(5, "reserve", 0, std::numeric_limits<int32_t>::max());
  Napi::Int32Array out = a.i32(6, "out");
  if (out.ElementLength() != 4) a.range_error("expected an Int32Array of 4 elements for out");
  if (reserve > 0 && reserve > r.reserve) {
    r.reserve = reserve;
    r.lines.reserve(static_cast<size_t>(reserve));
    for (Column& c : r.columns) {
      if (c.dictionary) c.codes.reserve(static_cast<size_t>(reserve));
      else c.numbers.reserve(static_cast<size_t>(reserve)), c.formats.reserve(static_cast<size_t>(reserve));
    }
  }
  const uint8_t* b = buf.Data();
  const size_t from = static_cast<size_t>(start), e = static_cast<size_t>(end);
  // Split in two when long enough, and when every line it may hold still fits an Int32.
  const size_t mid = r.split > 0 && end - start >= r.split && line + (end - start) < std::numeric_limits<int32_t>::max() - 1
                         ? split_point(r, b, from, e)
                         : 0;
  const Stop stop = mid > 0 ? scan_split(r, b, from, mid, e, line)
                            : scan_rows(r, r.columns, r.lines, b, from, e, line, TakeLive{r.reserve});
  if (stop.status == kOverflow) a.range_error("more lines than an Int32Array holds");
  const int status = stop.status;
  const size_t row = stop.row, column = stop.column, cell = stop.cell;
  out[0] = static_cast<int32_t>(line);
  out[1] = static_cast<int32_t>(row);
  out[2] = static_cast<int32_t>(column);
  out[3] = static_cast<int32_t>(cell);
  return Napi::Number::New(a.env(), status);
}
const Export<csv_scan> export_csv_scan("csvScan", 7);

// csvExport(reader) → { lines, splitRows, columns }: the lines of the rows taken (Int32Array), how
// many of them a split scan's second thread took (see scan_split), and per column
// its state: { dictionary: true, n, codes, textBytes, textEnds, textHashes, textNumbers,
// textFormats } or { dictionary: false, n, numbers, formats, otherRows, otherIds, otherBytes,
// otherEnds }, both with nonNumericBytes, nonNumericEnds (the texts that are not numbers, in the
// order seen). The reader is empty after it.
Napi::Value csv_export(const CsvArgs& a) {
  Reader& r = a.reader(0);
  Napi::Env env = a.env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("lines", typed<int32_t, Napi::Int32Array>(env, std::move(r.lines)));
  o.Set("splitRows", Napi::Number::New(env, static_cast<double>(r.split_rows)));
  r.lines.clear();
  Napi::Array columns = Napi::Array::New(env, r.columns.size());
  for (size_t k = 0; k < r.columns.size(); ++k) {
    Column& c = r.columns[k];
    Napi::Object s = Napi::Object::New(env);
    s.Set("dictionary", Napi::Boolean::New(env, c.dictionary));
    s.Set("n", Napi::Number::New(env, static_cast<double>(c.n)));
    if (c.dictionary) {
      std::vector<int32_t> ends(c.lengths.size());
      for (size_t j = 0; j < ends.size(); ++j) ends[j] = c.starts[j] + c.lengths[j];
      std::vector<int32_t> hashes(c.hashes.begin(), c.hashes.end());
      s.Set("codes", typed<int32_t, Napi::Int32Array>(env, std::move(c.codes)));
      s.Set("textBytes", typed<uint8_t, Napi::Uint8Array>(env, std::move(c.bytes)));
      s.Set("textEnds", typed<int32_t, Napi::Int32Array>(env, std::move(ends)));
      s.Set("textHashes", typed<int32_t, Napi::Int32Array>(env, std::move(hashes)));
      s.Set("textNumbers", typed<double, Napi::Float64Array>(env, std::move(c.text_numbers)));
      s.Set("textFormats", typed<uint8_t, Napi::Uint8Array>(env, std::move(c.text_formats)));
    } else {
      s.Set("numbers", typed<double, Napi::Float64Array>(env, std::move(c.numbers)));
      s.Set("formats", typed<uint8_t, Napi::Uint8Array>(env, std::move(c.formats)));
      s.Set("otherRows", typed<int32_t, Napi::Int32Array>(env, std::move(c.other_rows)));
      s.Set("otherIds", typed<int32_t, Napi::Int32Array>(env, std::move(c.other_ids)));
      put_texts(env, s, "otherBytes", "otherEnds", c.other_texts);
    }
    put_texts(env, s, "nonNumericBytes", "nonNumericEnds", c.non_numeric);
    columns.Set(static_cast<uint32_t>(k), s);
    c = Column();
  }
  o.Set("columns", columns);
  return o;
}
const Export<csv_export> export_csv_export("csvExport", 1);

// schemaInputs(x, f, keep, n, numbers, numericParams, numericOut, codes, slots, slotParams,
// slotCounts, threads): applySchema's inputs (ts/data/schema.ts: writeNumeric, writeSlots; that file is
// the reference and runs when this addon is absent), sample k from row keep[k] (row k when keep
// is null), x [kept, f] row-major, zero-filled before. Numeric column j (numbers[j], n rows;
// numericParams[4j ..]: first feature, mean, std, indicator 0/1): x[k, first] = f32((v − mean) /
// std) for a number, else (missing) x[k, first + 1] = 1 with the indicator; numericOut[2j ..]:
// the missing rows counted, and 0 when a value beyond float32's range was written (else 1).
// Categorical column j (codes[j], n rows; slots[j] per code; slotParams[2j ..]: first feature,
// embedded 0/1): slot = slots[j][codes[j][r]], x[k, first] = slot (embedded) or x[k, first +
// slot] = 1, slotCounts[j][slot]++. Blocks of about 256 KiB of x, every column of a block before
// the next, as the reference writes them; the rows split between up to `threads` threads of the
// cpu addon's pool. Every index is checked before anything is written.
void schema_inputs(const CsvArgs& a) {
  const int64_t f = a.integer(1, "f", 1, std::numeric_limits<int32_t>::max());
  const int64_t n = a.integer(3, "n", 0, std::numeric_limits<int32_t>::max());
  const Napi::Value keep_value = a.at(2);
  const int32_t* keep = nullptr;
  int64_t kept = n;
  if (!keep_value.IsNull()) {
    Napi::Int32Array k = a.typed_at<int32_t>(keep_value, napi_int32_array, "an Int32Array or null for keep");
    keep = k.ElementLength() == 0 ? nullptr : k.Data();
    kept = static_cast<int64_t>(k.ElementLength());
    for (int64_t i = 0; i < kept; ++i) {
      if (keep[i] < 0 || keep[i] >= n) a.range_error("keep holds a row outside [0, n)");
    }
  }
  Napi::Float32Array xs = a.typed_at<float>(a.at(0), napi_float32_array, "a Float32Array for x");
  if (static_cast<int64_t>(xs.ElementLength()) != layouts::elements(a, "x", {kept, f})) a.range_error("expected x of kept × f floats");
  float* x = xs.Data();

  Napi::Float64Array np = a.typed_at<double>(a.at(5), napi_float64_array, "a Float64Array for numericParams");
  if (np.ElementLength() % 4 != 0) a.range_error("expected 4 numericParams per numeric column");
  const size_t m = np.ElementLength() / 4;
  const auto numbers = a.typed_list<double>(4, napi_float64_array, m, "Float64Arrays for numbers");
  Napi::Float64Array nout = a.typed_at<double>(a.at(6), napi_float64_array, "a Float64Array for numericOut");
  if (nout.ElementLength() != 2 * m) a.range_error("expected 2 numericOut per numeric column");
  for (size_t j = 0; j < m; ++j) {
    const double first = np[4 * j], indicator = np[4 * j + 3];
    if (static_cast<int64_t>(numbers[j].ElementLength()) != n) a.range_error("expected numbers of n rows");
    if (!(first >= 0 && first == std::floor(first) && first + (indicator != 0 ? 2 : 1) <= static_cast<double>(f))) {
      a.range_error("a numeric column's features fall outside [0, f)");
    }
  }
  Napi::Int32Array sp = a.typed_at<int32_t>(a.at(9), napi_int32_array, "an Int32Array for slotParams");
  if (sp.ElementLength() % 2 != 0) a.range_error("expected 2 slotParams per categorical column");
  const size_t s = sp.ElementLength() / 2;
  const auto codes = a.typed_list<int32_t>(7, napi_int32_array, s, "Int32Arrays for codes");
  const auto slots = a.typed_list<int32_t>(8, napi_int32_array, s, "Int32Arrays for slots");
  auto counts = a.typed_list<int32_t>(10, napi_int32_array, s, "Int32Arrays for slotCounts");
  for (size_t j = 0; j < s; ++j) {
    const int64_t width = sp[2 * j + 1] != 0 ? 1 : static_cast<int64_t>(counts[j].ElementLength());
    if (static_cast<int64_t>(codes[j].ElementLength()) != n) a.range_error("expected codes of n rows");
    if (sp[2 * j] < 0 || sp[2 * j] + width > f) a.range_error("a categorical column's features fall outside [0, f)");
    const int32_t* c = codes[j].Data();
    const int32_t* t = slots[j].Data();
    const int64_t texts = static_cast<int64_t>(slots[j].ElementLength());
    const int64_t slot_count = static_cast<int64_t>(counts[j].ElementLength());
    for (int64_t r = 0; r < n; ++r) {
      if (c[r] < 0 || c[r] >= texts) a.range_error("a code outside its slots");
    }
    for (int64_t k = 0; k < texts; ++k) {
      if (t[k] < 0 || t[k] >= slot_count) a.range_error("a slot outside its counts");
    }
  }

  const int64_t threads = a.integer(11, "threads", 1, 256);

  // The rows [k0, k1) (a thread's share) into x, counting into the thread's own missing values,
  // float32 range flags and slot counts (added up afterwards: integers, in any order).
  struct Tally {
    std::vector<int64_t> missing;
    std::vector<char> finite;
    std::vector<std::vector<int32_t>> counts;
  };
  constexpr double kFloat32Max = 3.4028234663852886e38;
  const int64_t block = std::max<int64_t>(1, (256 * 1024) / (4 * f));
  const auto write = [&](int64_t from, int64_t to, Tally& tally) {
    for (int64_t k0 = from; k0 < to; k0 += block) {
      const int64_t k1 = std::min(to, k0 + block);
      for (size_t j = 0; j < m; ++j) {
        const double* v = numbers[j].Data();
        const int64_t first = static_cast<int64_t>(np[4 * j]);
        const double mean = np[4 * j + 1], sd = np[4 * j + 2];
        const bool indicator = np[4 * j + 3] != 0;
        int64_t miss = 0;
        bool fin = true;
        for (int64_t k = k0; k < k1; ++k) {
          const double value = v[keep == nullptr ? k : keep[k]];
          float* at = x + k * f + first;
          if (value != value) {
            ++miss;
            if (indicator) at[1] = 1;
          } else {
            const double z = (value - mean) / sd;
            if (!(std::fabs(z) <= kFloat32Max)) fin = false;
            at[0] = static_cast<float>(z);
          }
        }
        tally.missing[j] += miss;
        if (!fin) tally.finite[j] = 0;
      }
      for (size_t j = 0; j < s; ++j) {
        const int32_t* c = codes[j].Data();
        const int32_t* t = slots[j].Data();
        int32_t* count = tally.counts[j].data();
        const int64_t first = sp[2 * j];
        const bool embedded = sp[2 * j + 1] != 0;
        for (int64_t k = k0; k < k1; ++k) {
          const int32_t slot = t[c[keep == nullptr ? k : keep[k]]];
          ++count[slot];
          float* at = x + k * f + first;
          if (embedded) at[0] = static_cast<float>(slot);
          else at[slot] = 1;
        }
      }
    }
  };
  // Shares of the rows (each written by one thread: the same values in any order), 4 per thread,
  // taken by whichever thread is free (a thread the machine runs late holds up one share at
  // most); every tally made here, on the calling thread.
  const int parts = static_cast<int>(std::max<int64_t>(1, std::min(threads == 1 ? 1 : 4 * threads, kept)));
  std::vector<Tally> tallies(static_cast<size_t>(parts));
  for (Tally& t : tallies) {
    t.missing.assign(m, 0);
    t.finite.assign(m, 1);
    t.counts.resize(s);
    for (size_t j = 0; j < s; ++j) t.counts[j].assign(counts[j].ElementLength(), 0);
  }
  auto task = [&](int part, float*) {
    const int64_t from = kept * part / parts, to = kept * (part + 1) / parts;
    write(from, to, tallies[static_cast<size_t>(part)]);
  };
  ThreadPool::instance().parallel_for(parts, static_cast<int>(threads), 0, task);
  for (size_t j = 0; j < m; ++j) {
    int64_t missing = 0;
    bool finite = true;
    for (const Tally& t : tallies) missing += t.missing[j], finite = finite && t.finite[j] != 0;
    nout[2 * j] = static_cast<double>(missing);
    nout[2 * j + 1] = finite ? 1 : 0;
  }
  for (size_t j = 0; j < s; ++j) {
    int32_t* count = counts[j].Data();
    for (const Tally& t : tallies) {
      for (size_t k = 0; k < t.counts[j].size(); ++k) count[k] += t.counts[j][k];
    }
  }
}
const Export<schema_inputs> export_schema_inputs("schemaInputs", 12);

}  // namespace csv_entries
}  // namespace hydranet::cpu_addon
