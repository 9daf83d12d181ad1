//===- Knapsack.cpp - multiple-choice knapsack through CBC ----------------===//
//
// Part of quant.
//
//===----------------------------------------------------------------------===//

#include "quant/Support/Knapsack.h"

#include "Cbc_C_Interface.h"

#include <algorithm>
#include <cmath>
#include <string>

using namespace mlir::qc;

KnapsackResult
mlir::qc::solveMultipleChoiceKnapsack(const std::vector<KnapsackItem> &items,
                                      const std::vector<double> &budgets,
                                      double timeLimitSeconds) {
  KnapsackResult r;
  size_t numRes = budgets.size();
  for (size_t i = 0; i < items.size(); ++i) {
    const KnapsackItem &it = items[i];
    if (it.error.empty() || it.cost.size() != numRes ||
        std::any_of(it.cost.begin(), it.cost.end(), [&](const auto &row) {
          return row.size() != it.error.size();
        })) {
      r.message = "item " + std::to_string(i) +
                  " has no choice or a cost row per budget of another length";
      return r;
    }
  }
  for (double b : budgets)
    if (!(b > 0) || !std::isfinite(b)) {
      r.message = "budgets must be positive and finite";
      return r;
    }
  // Infeasible at once when the cheapest choices overrun a budget alone
  // (a clear message, without asking the solver).
  for (size_t k = 0; k < numRes; ++k) {
    double least = 0;
    for (const KnapsackItem &it : items)
      least += *std::min_element(it.cost[k].begin(), it.cost[k].end());
    if (least > budgets[k] * (1 + 1e-12)) {
      r.status = KnapsackResult::Infeasible;
      r.message = "budget " + std::to_string(k) + " is " +
                  std::to_string(budgets[k]) +
                  " but the cheapest choices take " + std::to_string(least);
      return r;
    }
  }
  // Scaling. Errors (sensitivities) span decades, and the LP's tolerances
  // are absolute (1e-7): in units of the largest error the small ones are
  // noise to it, and better answers were measured lost. In units of the
  // smallest positive error (at most nine decades below the largest) every
  // difference that matters is a large number. Each budget row is divided
  // by its budget, so that the units of bytes and bits do not matter.
  double errMax = 0, errMinPos = 0;
  for (const KnapsackItem &it : items)
    for (double e : it.error) {
      errMax = std::max(errMax, std::fabs(e));
      if (e != 0 && (errMinPos == 0 || std::fabs(e) < errMinPos))
        errMinPos = std::fabs(e);
    }
  double errScale = errMinPos == 0 ? 1 : std::max(errMinPos, errMax * 1e-9);

  Cbc_Model *m = Cbc_newModel();
  Cbc_setLogLevel(m, 0);
  Cbc_setAllowableGap(m, 0);
  Cbc_setAllowableFractionGap(m, 0);
  // CBC prunes nodes that cannot beat the incumbent by its cutoff
  // increment (1e-5 by default): sensitivities span decades, and a better
  // answer by less than that was measured lost. Ask for every improvement.
  Cbc_setParameter(m, "increment", "1e-12");
  if (timeLimitSeconds > 0)
    Cbc_setMaximumSeconds(m, timeLimitSeconds);
  std::vector<std::pair<size_t, size_t>> colOf; // column -> (item, choice)
  for (size_t i = 0; i < items.size(); ++i)
    for (size_t c = 0; c < items[i].error.size(); ++c) {
      Cbc_addCol(m, ("x" + std::to_string(colOf.size())).c_str(), 0, 1,
                 items[i].error[c] / errScale, 1, 0, nullptr, nullptr);
      colOf.push_back({i, c});
    }
  // One choice per item.
  size_t col = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    std::vector<int> cols;
    std::vector<double> ones;
    for (size_t c = 0; c < items[i].error.size(); ++c, ++col) {
      cols.push_back(int(col));
      ones.push_back(1);
    }
    Cbc_addRow(m, ("one" + std::to_string(i)).c_str(), int(cols.size()),
               cols.data(), ones.data(), 'E', 1);
  }
  for (size_t k = 0; k < numRes; ++k) {
    std::vector<int> cols;
    std::vector<double> coefs;
    for (size_t j = 0; j < colOf.size(); ++j) {
      double v = items[colOf[j].first].cost[k][colOf[j].second] / budgets[k];
      if (v != 0) {
        cols.push_back(int(j));
        coefs.push_back(v);
      }
    }
    Cbc_addRow(m, ("budget" + std::to_string(k)).c_str(), int(cols.size()),
               cols.data(), coefs.data(), 'L', 1);
  }
  Cbc_solve(m);
  if (Cbc_isProvenInfeasible(m)) {
    r.status = KnapsackResult::Infeasible;
    r.message = "no assignment fits every budget";
  } else if (!Cbc_isProvenOptimal(m)) {
    r.message = Cbc_isSecondsLimitReached(m)
                    ? "the solver reached its time limit before proving an "
                      "optimum"
                    : "the solver stopped without an optimum (status " +
                          std::to_string(Cbc_status(m)) + ")";
  } else {
    const double *x = Cbc_getColSolution(m);
    r.choice.assign(items.size(), -1);
    for (size_t j = 0; j < colOf.size(); ++j)
      if (x[j] > 0.5)
        r.choice[colOf[j].first] = int(colOf[j].second);
    bool complete = std::none_of(r.choice.begin(), r.choice.end(),
                                 [](int c) { return c < 0; });
    if (!complete) {
      r.message = "the solver's answer leaves an item without a choice";
      r.choice.clear();
    } else {
      r.status = KnapsackResult::Optimal;
      r.spent.assign(numRes, 0);
      for (size_t i = 0; i < items.size(); ++i) {
        r.error += items[i].error[r.choice[i]];
        for (size_t k = 0; k < numRes; ++k)
          r.spent[k] += items[i].cost[k][r.choice[i]];
      }
    }
  }
  Cbc_deleteModel(m);
  return r;
}
