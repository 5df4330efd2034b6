#pragma once
// Everything distkit offers, in one include.

#include "distkit/batch.hpp"
#include "distkit/compare.hpp"
#include "distkit/concepts.hpp"
#include "distkit/counter/lax_counter.hpp"
#include "distkit/counter/strict_counter.hpp"
#include "distkit/counts.hpp"
#include "distkit/error.hpp"
#include "distkit/flush_stats.hpp"
#include "distkit/logging.hpp"
#include "distkit/ratelimit/rate_limiter.hpp"
#include "distkit/redis/connection.hpp"
#include "distkit/redis/options.hpp"
#include "distkit/redis/script.hpp"
#include "distkit/redis_key.hpp"
#include "distkit/icounter/lax_instance_aware_counter.hpp"
#include "distkit/icounter/strict_instance_aware_counter.hpp"
