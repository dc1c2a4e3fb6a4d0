#include <gtest/gtest.h>
TEST(MetaParse, Placeholder) {}
