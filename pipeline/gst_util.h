// Small GStreamer helpers shared by sources and sinks.
#pragma once
#include <gst/gst.h>

#include <string>

namespace ec {

// Initialises GStreamer once (thread-safe).
void gst_init_once();
// True when an element factory of that name is installed.
bool gst_has_element(const char* name);
// Builds a pipeline from a launch string; throws ec::Error "URI: cannot build the WHAT pipeline (...)".
GstElement* gst_launch(const std::string& launch, const std::string& uri, const char* what);
// Pops the first ERROR message on the bus within timeout_ms; returns its text ("" when none).
std::string gst_pop_error(GstElement* pipeline, int timeout_ms);
// Sets a pipeline's state and waits up to timeout_ms for it; returns "" or the error text. A wait that a signal
// handler cut short while the change was still under way waits again (until the same deadline).
std::string gst_set_state_wait(GstElement* pipeline, GstState state, int timeout_ms);

}  // namespace ec
