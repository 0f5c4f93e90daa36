// The drafter registry lives in drafters/registry.h (every drafter described as data, next to
// its own file). This header remains so that existing includes keep compiling; new code
// includes drafters/registry.h.
#pragma once
#include "drafters/registry.h"
