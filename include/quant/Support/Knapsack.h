//===- Knapsack.h - multiple-choice knapsack, solved exactly ----*- C++ -*-===//
//
// Part of quant. Precision assignment's optimisation problem: every item
// (a layer) takes exactly one of its choices (candidate schemes); each choice
// has an error (its measured sensitivity) and one cost per resource (bytes,
// weight bits, latency); the total error is minimised under one budget per
// resource. Solved as a 0-1 integer program by CBC's branch and cut: the
// answer is optimal (to CBC's integrality tolerance), not a greedy one.
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_SUPPORT_KNAPSACK_H
#define QUANT_SUPPORT_KNAPSACK_H

#include <string>
#include <vector>

namespace mlir::qc {

struct KnapsackItem {
  /// error[c]: the objective's term when choice c is taken.
  std::vector<double> error;
  /// cost[r][c]: what choice c spends of resource r (one row per budget).
  std::vector<std::vector<double>> cost;
};

struct KnapsackResult {
  enum Status { Optimal, Infeasible, Failed } status = Failed;
  std::vector<int> choice;   ///< per item, when Optimal
  double error = 0;          ///< the objective at `choice`
  std::vector<double> spent; ///< per resource, at `choice`
  std::string message;       ///< why, when not Optimal
};

/// Minimises the sum of the chosen errors subject to, for every resource r,
/// sum of the chosen cost[r] <= budgets[r]. Every item needs at least one
/// choice and one cost row per budget. Infeasible when even the cheapest
/// choices overrun a budget. `timeLimitSeconds` bounds the search (0: none);
/// a search stopped by it before proving optimality is Failed.
KnapsackResult
solveMultipleChoiceKnapsack(const std::vector<KnapsackItem> &items,
                            const std::vector<double> &budgets,
                            double timeLimitSeconds = 0);

} // namespace mlir::qc

#endif // QUANT_SUPPORT_KNAPSACK_H
