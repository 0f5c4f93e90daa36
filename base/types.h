// Basic vocabulary types shared by every folder.
#pragma once
#include <cstdint>
#include <span>

namespace speclab {

using Token = std::int32_t;

}  // namespace speclab
