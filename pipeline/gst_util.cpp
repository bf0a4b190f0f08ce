#include "gst_util.h"

#include <mutex>

#include "error.h"

namespace ec {

void gst_init_once() {
  static std::once_flag once;
  std::call_once(once, [] { gst_init(nullptr, nullptr); });
}

bool gst_has_element(const char* name) {
  gst_init_once();
  GstElementFactory* f = gst_element_factory_find(name);
  if (!f) return false;
  gst_object_unref(f);
  return true;
}

GstElement* gst_launch(const std::string& launch, const std::string& uri, const char* what) {
  GError* err = nullptr;
  GstElement* p = gst_parse_launch(launch.c_str(), &err);
  if (err) {
    std::string msg = err->message;
    g_error_free(err);
    if (p) gst_object_unref(p);
    throw Error(uri + ": cannot build the " + what + " pipeline (" + msg + ")");
  }
  return p;
}

std::string gst_pop_error(GstElement* pipeline, int timeout_ms) {
  GstBus* bus = gst_element_get_bus(pipeline);
  std::string r;
  GstMessage* msg = gst_bus_timed_pop_filtered(bus, static_cast<GstClockTime>(timeout_ms) * GST_MSECOND, GST_MESSAGE_ERROR);
  if (msg) {
    GError* err = nullptr;
    gchar* dbg = nullptr;
    gst_message_parse_error(msg, &err, &dbg);
    r = err ? err->message : "unknown GStreamer error";
    if (msg->src) {
      gchar* name = gst_object_get_name(msg->src);
      r = std::string(name ? name : "?") + ": " + r;
      g_free(name);
    }
    if (err) g_error_free(err);
    g_free(dbg);
    gst_message_unref(msg);
  }
  gst_object_unref(bus);
  return r;
}

std::string gst_set_state_wait(GstElement* pipeline, GstState state, int timeout_ms) {
  GstStateChangeReturn r = gst_element_set_state(pipeline, state);
  if (r == GST_STATE_CHANGE_FAILURE) {
    std::string e = gst_pop_error(pipeline, 100);
    return e.empty() ? "state change failed" : e;
  }
  if (r == GST_STATE_CHANGE_ASYNC) {
    const gint64 deadline_us = g_get_monotonic_time() + static_cast<gint64>(timeout_ms) * 1000;
    for (;;) {
      GstState current = GST_STATE_VOID_PENDING, pending = GST_STATE_VOID_PENDING;
      const gint64 left_us = deadline_us - g_get_monotonic_time();
      r = gst_element_get_state(pipeline, &current, &pending, static_cast<GstClockTime>(left_us > 0 ? left_us : 0) * GST_USECOND);
      // gst_element_get_state waits on a condition variable and takes any wake-up for the end of the change:
      // a signal handler that runs on this thread ends the wait (glib's futex wait returns on EINTR) and the
      // change, still pending, is reported as FAILURE. A real failure aborts the change and clears pending.
      if (r == GST_STATE_CHANGE_FAILURE && pending != GST_STATE_VOID_PENDING && left_us > 0) continue;
      break;
    }
    if (r == GST_STATE_CHANGE_FAILURE) {
      std::string e = gst_pop_error(pipeline, 100);
      return e.empty() ? "state change failed" : e;
    }
  }
  return "";
}

}  // namespace ec
