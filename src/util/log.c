/* log: the process-wide verbosity level (see log.h). */
#include "util/log.h"

int log_level;
