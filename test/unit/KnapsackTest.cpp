//===- KnapsackTest.cpp - the MILP against exhaustive search --------------===//
//
// Part of quant. Random multiple-choice knapsacks, small enough to enumerate
// every assignment: CBC's answer must fit the budgets and reach the least
// total error that enumeration finds; an over-tight budget is infeasible.
//
//===----------------------------------------------------------------------===//

#include "quant/Support/Knapsack.h"

#include "gtest/gtest.h"

#include <limits>
#include <random>

using namespace mlir::qc;

namespace {

/// The least total error over all assignments within the budgets, or +inf.
double bruteForce(const std::vector<KnapsackItem> &items,
                  const std::vector<double> &budgets) {
  std::vector<size_t> pick(items.size(), 0);
  double best = std::numeric_limits<double>::infinity();
  while (true) {
    double err = 0;
    bool fits = true;
    for (size_t k = 0; k < budgets.size(); ++k) {
      double spent = 0;
      for (size_t i = 0; i < items.size(); ++i)
        spent += items[i].cost[k][pick[i]];
      fits &= spent <= budgets[k];
    }
    for (size_t i = 0; i < items.size(); ++i)
      err += items[i].error[pick[i]];
    if (fits)
      best = std::min(best, err);
    size_t i = 0;
    for (; i < items.size(); ++i) {
      if (++pick[i] < items[i].error.size())
        break;
      pick[i] = 0;
    }
    if (i == items.size())
      return best;
  }
}

TEST(Knapsack, MatchesExhaustiveSearch) {
  std::mt19937 rng(1234);
  std::uniform_real_distribution<double> u(0, 1);
  int solved = 0, infeasible = 0;
  for (int trial = 0; trial < 600; ++trial) {
    size_t numItems = 1 + rng() % 7, numRes = 1 + rng() % 3;
    std::vector<KnapsackItem> items(numItems);
    for (KnapsackItem &it : items) {
      size_t n = 1 + rng() % 4;
      // Errors over six decades, as sensitivities are; costs in bytes.
      for (size_t c = 0; c < n; ++c)
        it.error.push_back(std::pow(10.0, -6 * u(rng)));
      it.cost.assign(numRes, {});
      for (auto &row : it.cost)
        for (size_t c = 0; c < n; ++c)
          row.push_back(std::floor(1e6 * u(rng)));
    }
    std::vector<double> budgets;
    for (size_t k = 0; k < numRes; ++k)
      budgets.push_back(1e6 * numItems * (0.2 + 0.6 * u(rng)));
    double expect = bruteForce(items, budgets);
    KnapsackResult r = solveMultipleChoiceKnapsack(items, budgets);
    if (std::isinf(expect)) {
      EXPECT_EQ(r.status, KnapsackResult::Infeasible) << "trial " << trial;
      ++infeasible;
      continue;
    }
    ASSERT_EQ(r.status, KnapsackResult::Optimal)
        << "trial " << trial << ": " << r.message;
    ++solved;
    double err = 0;
    for (size_t k = 0; k < numRes; ++k) {
      double spent = 0;
      for (size_t i = 0; i < numItems; ++i)
        spent += items[i].cost[k][r.choice[i]];
      EXPECT_LE(spent, budgets[k] * (1 + 1e-7)) << "trial " << trial;
      EXPECT_DOUBLE_EQ(spent, r.spent[k]);
    }
    for (size_t i = 0; i < numItems; ++i)
      err += items[i].error[r.choice[i]];
    EXPECT_NEAR(err, expect, 1e-9 * expect) << "trial " << trial;
    EXPECT_DOUBLE_EQ(err, r.error);
  }
  // Both kinds of instance were drawn.
  EXPECT_GT(solved, 100);
  EXPECT_GT(infeasible, 5);
}

TEST(Knapsack, RejectsMalformedInput) {
  KnapsackItem it;
  it.error = {1, 2};
  it.cost = {{1}}; // one cost for two choices
  EXPECT_EQ(solveMultipleChoiceKnapsack({it}, {10}).status,
            KnapsackResult::Failed);
  it.cost = {{1, 2}};
  EXPECT_EQ(solveMultipleChoiceKnapsack({it}, {0}).status,
            KnapsackResult::Failed);
  EXPECT_EQ(solveMultipleChoiceKnapsack({it}, {0.5}).status,
            KnapsackResult::Infeasible);
  KnapsackResult r = solveMultipleChoiceKnapsack({it}, {1.5});
  ASSERT_EQ(r.status, KnapsackResult::Optimal);
  EXPECT_EQ(r.choice[0], 0);
}

} // namespace
