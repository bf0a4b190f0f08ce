#include "archive.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <queue>
#include <set>

#include "error.h"
#include "onnx_io.h"

namespace ec {
namespace {

constexpr char kMagic[4] = {'E', 'C', 'Z', '1'};

struct Writer {
  std::string out;
  template <class T>
  void put(T v) {
    out.append(reinterpret_cast<const char*>(&v), sizeof v);
  }
  void bytes(const std::string& s) { out += s; }
};

struct Reader {
  const std::string& in;
  size_t pos = 0;
  std::string name;
  template <class T>
  T get() {
    if (sizeof(T) > in.size() - pos) throw Error(name + ": archive is truncated");
    T v;
    std::memcpy(&v, in.data() + pos, sizeof v);
    pos += sizeof v;
    return v;
  }
  std::string bytes(size_t n) {
    if (n > in.size() - pos) throw Error(name + ": archive is truncated");  // (pos + n could wrap)
    std::string s = in.substr(pos, n);
    pos += n;
    return s;
  }
};

// Canonical codes from lengths: codes of equal length are consecutive, shorter lengths first.
std::vector<uint32_t> canonical_codes(const std::vector<uint8_t>& len) {
  std::vector<uint32_t> code(len.size(), 0);
  uint32_t c = 0;
  for (int l = 1; l <= 30; ++l) {
    for (size_t s = 0; s < len.size(); ++s)
      if (len[s] == l) code[s] = c++;
    c <<= 1;
  }
  return code;
}

void write_stream(Writer& w, const std::vector<uint32_t>& symbols, size_t alphabet) {
  std::vector<uint64_t> freq(alphabet, 0);
  for (uint32_t s : symbols) ++freq[s];
  const std::vector<uint8_t> len = huffman_lengths(freq);
  const std::vector<uint32_t> code = canonical_codes(len);
  w.put<uint16_t>(static_cast<uint16_t>(alphabet));
  for (uint8_t l : len) w.put<uint8_t>(l);
  uint64_t bits = 0;
  for (uint32_t s : symbols) bits += len[s];
  w.put<uint64_t>(bits);
  std::string buf((bits + 7) / 8, '\0');
  uint64_t pos = 0;
  for (uint32_t s : symbols)
    for (int b = len[s] - 1; b >= 0; --b, ++pos)
      if ((code[s] >> b) & 1) buf[pos / 8] = static_cast<char>(buf[pos / 8] | (0x80 >> (pos % 8)));
  w.bytes(buf);
}

// `count` symbols; the caller has bounded it by a tensor size already checked against the limits.
std::vector<uint32_t> read_stream(Reader& r, uint64_t count) {
  const size_t alphabet = r.get<uint16_t>();
  std::vector<uint8_t> len(alphabet);
  for (auto& l : len) {
    l = r.get<uint8_t>();
    if (l > 30) throw Error(r.name + ": bad code length in archive");
  }
  const uint64_t bits = r.get<uint64_t>();
  // the stream's bits must be in the file (bits + 7 could wrap) and pay at least one bit per symbol
  if (bits / 8 > r.in.size() - r.pos) throw Error(r.name + ": archive stream claims more bits than the file holds");
  if (count > bits) throw Error(r.name + ": archive stream holds fewer bits than its " + std::to_string(count) + " symbols need");
  const std::string buf = r.bytes((bits + 7) / 8);
  const std::vector<uint32_t> code = canonical_codes(len);
  std::map<std::pair<uint8_t, uint32_t>, uint32_t> lookup;
  size_t used = 0;
  uint32_t only = 0;
  for (size_t s = 0; s < alphabet; ++s)
    if (len[s]) {
      lookup[{len[s], code[s]}] = static_cast<uint32_t>(s);
      ++used;
      only = static_cast<uint32_t>(s);
    }
  std::vector<uint32_t> out;
  out.reserve(count);
  if (used == 1 && bits == count * len[only]) {  // a single symbol still costs one bit each
    out.assign(count, only);
    return out;
  }
  uint64_t pos = 0;
  while (out.size() < count) {
    uint32_t c = 0;
    uint8_t l = 0;
    for (;;) {
      if (pos >= bits) throw Error(r.name + ": archive stream ends early");
      c = (c << 1) | ((static_cast<uint8_t>(buf[pos / 8]) >> (7 - pos % 8)) & 1);
      ++pos;
      ++l;
      auto it = lookup.find({l, c});
      if (it != lookup.end()) {
        out.push_back(it->second);
        break;
      }
      if (l > 30) throw Error(r.name + ": corrupt archive stream");
    }
  }
  return out;
}

bool codable(const Tensor& t, int64_t min_elements, std::vector<float>& book) {
  if (t.dtype() != DType::f32 || t.numel() < min_elements) return false;
  std::set<uint32_t> bitsset;
  for (int64_t i = 0; i < t.numel(); ++i) {
    const float v = t.ptr<float>()[i];
    if (v == 0.f && !std::signbit(v)) continue;
    uint32_t b;
    std::memcpy(&b, &v, 4);
    bitsset.insert(b);
    if (bitsset.size() > 256) return false;
  }
  book.clear();
  for (uint32_t b : bitsset) {
    float v;
    std::memcpy(&v, &b, 4);
    book.push_back(v);
  }
  std::sort(book.begin(), book.end());
  return true;
}

}  // namespace

std::vector<uint8_t> huffman_lengths(const std::vector<uint64_t>& freq_in) {
  std::vector<uint64_t> freq = freq_in;
  for (int attempt = 0;; ++attempt) {
    std::vector<uint8_t> len(freq.size(), 0);
    using Item = std::pair<uint64_t, int>;  // weight, node
    std::priority_queue<Item, std::vector<Item>, std::greater<Item>> q;
    std::vector<int> parent;
    for (size_t s = 0; s < freq.size(); ++s)
      if (freq[s]) {
        q.push({freq[s], static_cast<int>(parent.size())});
        parent.push_back(-1);
      }
    if (parent.empty()) return len;
    std::vector<size_t> leaf_symbol;
    for (size_t s = 0; s < freq.size(); ++s)
      if (freq[s]) leaf_symbol.push_back(s);
    if (parent.size() == 1) {
      len[leaf_symbol[0]] = 1;
      return len;
    }
    while (q.size() > 1) {
      Item a = q.top();
      q.pop();
      Item b = q.top();
      q.pop();
      const int p = static_cast<int>(parent.size());
      parent.push_back(-1);
      parent[static_cast<size_t>(a.second)] = p;
      parent[static_cast<size_t>(b.second)] = p;
      q.push({a.first + b.first, p});
    }
    bool ok = true;
    for (size_t i = 0; i < leaf_symbol.size(); ++i) {
      int d = 0;
      for (int n = static_cast<int>(i); parent[static_cast<size_t>(n)] >= 0; n = parent[static_cast<size_t>(n)]) ++d;
      if (d > 30) ok = false;
      len[leaf_symbol[i]] = static_cast<uint8_t>(std::min(d, 30));
    }
    if (ok) return len;
    for (auto& f : freq)  // flatten the distribution until the longest code fits
      if (f) f = std::max<uint64_t>(1, f >> 1);
    if (attempt > 64) throw Error("huffman: cannot limit code lengths");
  }
}

bool is_archive(const std::string& b) { return b.size() >= 4 && std::memcmp(b.data(), kMagic, 4) == 0; }

std::string pack_archive(const Model& m, ArchiveStats* stats, int64_t min_elements) {
  Model rest = m;
  Writer coded;
  uint32_t n = 0;
  ArchiveStats st;
  for (auto& kv : m.graph.initializers) {
    std::vector<float> book;
    if (!codable(kv.second, min_elements, book)) continue;
    const Tensor& t = kv.second;
    // entries: (gap, index) per non-zero, with fillers bridging gaps longer than the gap alphabet
    std::vector<uint32_t> gaps, idx;
    uint8_t gb = 1;
    {  // pick the gap width (1..8 bits) with the fewest entries + bits (simple estimate)
      uint64_t best = UINT64_MAX;
      for (uint8_t b = 1; b <= 8; ++b) {
        const uint64_t maxgap = (1u << b) - 1;
        uint64_t entries = 0, run = 0;
        for (int64_t i = 0; i < t.numel(); ++i) {
          if (t.ptr<float>()[i] == 0.f && !std::signbit(t.ptr<float>()[i])) {
            if (++run > maxgap) {
              ++entries;
              run = 0;
            }
            continue;
          }
          ++entries;
          run = 0;
        }
        const uint64_t cost = entries * (b + 4);
        if (cost < best) {
          best = cost;
          gb = b;
        }
      }
    }
    const uint32_t maxgap = (1u << gb) - 1;
    uint32_t run = 0;
    for (int64_t i = 0; i < t.numel(); ++i) {
      const float v = t.ptr<float>()[i];
      if (v == 0.f && !std::signbit(v)) {
        if (run == maxgap) {  // filler: an explicit zero entry at this position
          gaps.push_back(run);
          idx.push_back(0);
          run = 0;
          continue;
        }
        ++run;
        continue;
      }
      gaps.push_back(run);
      idx.push_back(static_cast<uint32_t>(std::lower_bound(book.begin(), book.end(), v) - book.begin()) + 1);
      run = 0;
    }
    coded.put<uint16_t>(static_cast<uint16_t>(kv.first.size()));
    coded.bytes(kv.first);
    coded.put<uint8_t>(static_cast<uint8_t>(t.rank()));
    for (int64_t d : t.shape()) coded.put<int64_t>(d);
    coded.put<uint16_t>(static_cast<uint16_t>(book.size()));
    for (float v : book) coded.put<float>(v);
    coded.put<uint64_t>(static_cast<uint64_t>(t.numel()));
    coded.put<uint64_t>(gaps.size());
    coded.put<uint8_t>(gb);
    write_stream(coded, gaps, size_t{1} << gb);
    write_stream(coded, idx, book.size() + 1);
    rest.graph.initializers.erase(kv.first);
    ++n;
    st.coded_values += static_cast<size_t>(t.numel());
  }
  const std::string onnx = to_onnx_bytes(rest);
  Writer w;
  w.out.append(kMagic, 4);
  w.put<uint32_t>(1);
  w.put<uint64_t>(onnx.size());
  w.bytes(onnx);
  w.put<uint32_t>(n);
  w.bytes(coded.out);
  st.onnx_bytes = onnx.size();
  st.coded_tensors = n;
  st.coded_bytes = coded.out.size();
  st.total_bytes = w.out.size();
  if (stats) *stats = st;
  return w.out;
}

Model unpack_archive(const std::string& bytes, const std::string& name) {
  if (!is_archive(bytes)) throw Error(name + ": not an edgecompress archive (no ECZ1 magic)");
  Reader r{bytes, 4, name};
  const uint32_t version = r.get<uint32_t>();
  if (version != 1) throw Error(name + ": archive version " + std::to_string(version) + " is not supported");
  const std::string onnx = r.bytes(r.get<uint64_t>());
  Model m = load_onnx_bytes(onnx, name, /*check_graph=*/false);
  const uint32_t n = r.get<uint32_t>();
  for (uint32_t k = 0; k < n; ++k) {
    const std::string tn = r.bytes(r.get<uint16_t>());
    const uint8_t rank = r.get<uint8_t>();
    Shape s;
    for (uint8_t i = 0; i < rank; ++i) s.push_back(r.get<int64_t>());
    std::vector<float> book(r.get<uint16_t>());
    for (float& v : book) v = r.get<float>();
    const uint64_t numel = r.get<uint64_t>(), entries = r.get<uint64_t>();
    const uint8_t gb = r.get<uint8_t>();
    checked_tensor_bytes(DType::f32, s, name + ": tensor '" + tn + "'");  // before anything is sized from the header
    if (gb < 1 || gb > 8 || numel != static_cast<uint64_t>(ec::numel(s)) || entries > numel)
      throw Error(name + ": tensor '" + tn + "' header is corrupt");
    const std::vector<uint32_t> gaps = read_stream(r, entries), idx = read_stream(r, entries);
    Tensor t(DType::f32, s);
    uint64_t pos = 0;
    for (uint64_t e = 0; e < entries; ++e) {
      pos += gaps[e];
      if (pos >= numel) throw Error(name + ": tensor '" + tn + "' positions run past its size");
      if (idx[e] > book.size()) throw Error(name + ": tensor '" + tn + "' index out of its codebook");
      if (idx[e]) t.ptr<float>()[pos] = book[idx[e] - 1];
      ++pos;
    }
    m.graph.initializers[tn] = t;
  }
  topo_sort(m.graph, name);
  return m;
}

}  // namespace ec
