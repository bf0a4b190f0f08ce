#include "samples.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <opencv2/imgcodecs.hpp>

#include "error.h"
#include "source.h"

namespace ec {

std::vector<FrameSample> load_samples(const std::string& uri, const PreprocessSpec& spec, const Shape& shape, int every, int max_frames, int start) {
  if (every < 1 || max_frames < 1 || start < 0) throw Error(uri + ": frame sampling needs every >= 1, frames >= 1 and start >= 0");
  auto src = FrameSource::open(uri, {});
  Preprocessor pre(spec, shape);
  std::vector<FrameSample> r;
  Frame f;
  for (int i = 0; static_cast<int>(r.size()) < max_frames;) {
    const ReadStatus st = src->read(f, 5000);
    if (st == ReadStatus::end_of_stream) break;
    if (st == ReadStatus::error) throw Error(src->error());
    if (st == ReadStatus::timeout) throw Error(uri + ": no frame within 5 s");
    if (start > 0) {
      --start;
      continue;
    }
    if (i++ % every) continue;
    FrameSample s;
    s.bgr = f.bgr.clone();
    s.input = Tensor(DType::f32, shape);
    s.lb = pre.run(s.bgr, s.input);
    r.push_back(std::move(s));
  }
  if (r.empty()) throw Error(uri + ": no frames to calibrate or evaluate on (empty source)");
  return r;
}

namespace {
std::vector<std::string> entries(const std::string& dir) {
  std::vector<std::string> r;
  DIR* d = opendir(dir.c_str());
  if (!d) return r;
  while (dirent* e = readdir(d))
    if (e->d_name[0] != '.') r.push_back(e->d_name);
  closedir(d);
  std::sort(r.begin(), r.end());
  return r;
}
bool is_dir(const std::string& p) {
  struct stat st {};
  return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}
bool is_image(const std::string& f) {
  std::string e = f.substr(f.rfind('.') == std::string::npos ? f.size() : f.rfind('.'));
  std::transform(e.begin(), e.end(), e.begin(), ::tolower);
  return e == ".png" || e == ".jpg" || e == ".jpeg" || e == ".bmp";
}
}  // namespace

std::vector<FrameSample> load_image_folder(const std::string& dir, const PreprocessSpec& spec, const Shape& shape, int max_images,
                                           std::vector<int>* labels, std::vector<std::string>* classes) {
  if (!is_dir(dir)) throw Error(dir + ": not a folder of images");
  std::vector<std::pair<std::string, int>> files;
  std::vector<std::string> cls;
  for (const std::string& e : entries(dir)) {
    const std::string p = dir + "/" + e;
    if (is_dir(p)) {
      cls.push_back(e);
      for (const std::string& f : entries(p))
        if (is_image(f)) files.push_back({p + "/" + f, static_cast<int>(cls.size()) - 1});
    } else if (is_image(e)) {
      files.push_back({p, -1});
    }
  }
  Preprocessor pre(spec, shape);
  std::vector<FrameSample> r;
  for (auto& f : files) {
    if (max_images > 0 && static_cast<int>(r.size()) >= max_images) break;
    FrameSample s;
    s.bgr = cv::imread(f.first, cv::IMREAD_COLOR);
    if (s.bgr.empty()) throw Error(f.first + ": not a readable image");
    s.input = Tensor(DType::f32, shape);
    s.lb = pre.run(s.bgr, s.input);
    r.push_back(std::move(s));
    if (labels) labels->push_back(f.second);
  }
  if (r.empty()) throw Error(dir + ": no images (png, jpg, jpeg, bmp)");
  if (classes) *classes = cls;
  return r;
}

}  // namespace ec
