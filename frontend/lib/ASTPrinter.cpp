// Prints the AST for `attnc --emit=ast` and the frontend's lit tests. Each node is one line,
// `Kind payload @line:col`, indented two spaces per level; statements that declare several names print one
// line per name (at the name), since the names, not the grouping, are what later stages see. Integers print
// without a fraction and reals always with a '.' or an exponent, in the fewest digits that read back
// exactly, so the two kinds of literal stay distinguishable and the output is stable across platforms.
#include "attn/Frontend/ASTPrinter.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/Casting.h"
#include "llvm/Support/Format.h"

#include <cstdio>
#include <cstdlib>
#include <string>

using namespace attn;

namespace {

class ASTPrinter {
public:
  explicit ASTPrinter(llvm::raw_ostream &os) : os(os) {}

  void print(const ast::Model &model) {
    os << "Model " << model.name.name << " " << at(model.name.loc) << "\n";
    for (const ast::StmtPtr &stmt : model.body)
      print(*stmt, 1);
  }

private:
  static std::string at(const ast::Location &loc) {
    return "@" + std::to_string(loc.line) + ":" + std::to_string(loc.col);
  }

  llvm::raw_ostream &line(unsigned indent) { return os.indent(2 * indent); }

  void print(const ast::Stmt &stmt, unsigned indent) {
    if (const auto *dim = llvm::dyn_cast<ast::DimStmt>(&stmt)) {
      for (const ast::Name &name : dim->getNames())
        line(indent) << "Dim " << name.name << " " << at(name.loc) << "\n";
    } else if (const auto *constant = llvm::dyn_cast<ast::ConstStmt>(&stmt)) {
      for (const ast::ConstStmt::Def &def : constant->getDefs()) {
        line(indent) << "Const " << def.name.name << " " << at(def.name.loc) << "\n";
        print(*def.value, indent + 1);
      }
    } else if (const auto *input = llvm::dyn_cast<ast::InputStmt>(&stmt)) {
      line(indent) << "Input " << input->getName().name << " : " << input->getDType() << " "
                   << at(input->getName().loc) << "\n";
      for (const ast::ExprPtr &dim : input->getShape())
        print(*dim, indent + 1);
      if (input->getVocab())
        printVocab(*input->getVocab(), indent + 1);
    } else if (const auto *param = llvm::dyn_cast<ast::ParamStmt>(&stmt)) {
      line(indent) << "Param " << param->getName().name << " : " << param->getDType() << " "
                   << at(param->getName().loc) << "\n";
      for (const ast::ExprPtr &dim : param->getShape())
        print(*dim, indent + 1);
      if (const ast::Expr *init = param->getInit()) {
        line(indent + 1) << "Init\n";
        print(*init, indent + 2);
      }
    } else if (const auto *assign = llvm::dyn_cast<ast::AssignStmt>(&stmt)) {
      line(indent) << "Assign ";
      for (const ast::Name &target : assign->getTargets())
        os << (&target == &assign->getTargets().front() ? "" : ", ") << target.name;
      os << " " << at(assign->getTarget().loc) << "\n";
      print(assign->getValue(), indent + 1);
    } else if (const auto *block = llvm::dyn_cast<ast::BlockStmt>(&stmt)) {
      line(indent) << "Block " << block->getName().name << "(";
      for (const ast::Name &param : block->getParams())
        os << (&param == &block->getParams().front() ? "" : ", ") << param.name;
      os << ") " << at(block->getName().loc) << "\n";
      for (const ast::StmtPtr &inner : block->getBody())
        print(*inner, indent + 1);
      for (const ast::Name &result : block->getResults())
        line(indent + 1) << "Return " << result.name << " " << at(result.loc) << "\n";
    } else if (const auto *decoder = llvm::dyn_cast<ast::DecoderStmt>(&stmt)) {
      line(indent) << "Decoder " << decoder->getName().name << "(" << decoder->getToken().name
                   << (decoder->getPosition() ? ", " + decoder->getPosition()->name : std::string()) << ") "
                   << at(decoder->getName().loc) << "\n";
      for (const ast::DecoderStmt::Carried &state : decoder->getCarries()) {
        line(indent + 1) << "Carries " << state.name.name << " " << at(state.name.loc) << "\n";
        print(*state.init, indent + 2);
      }
      for (const ast::StmtPtr &inner : decoder->getBody())
        print(*inner, indent + 1);
      for (const ast::Name &emit : decoder->getEmits())
        line(indent + 1) << "Emit " << emit.name << " " << at(emit.loc) << "\n";
    } else if (const auto *train = llvm::dyn_cast<ast::TrainStmt>(&stmt)) {
      line(indent) << "Train " << at(stmt.getLoc()) << "\n";
      for (const ast::TrainStmt::Setting &setting : train->getSettings()) {
        line(indent + 1) << "Setting " << setting.name.name << " " << at(setting.name.loc) << "\n";
        print(*setting.value, indent + 2);
      }
    } else if (const auto *output = llvm::dyn_cast<ast::OutputStmt>(&stmt)) {
      for (auto [name, vocab] : llvm::zip(output->getNames(), output->getVocabs())) {
        line(indent) << "Output " << name.name << " " << at(name.loc) << "\n";
        if (vocab)
          printVocab(*vocab, indent + 1);
      }
    }
  }

  void printVocab(const ast::VocabRef &vocab, unsigned indent) {
    line(indent) << "Vocab " << quote(vocab.path) << " " << at(vocab.loc) << "\n";
  }

  void print(const ast::Expr &expr, unsigned indent) {
    llvm::raw_ostream &out = line(indent);
    if (const auto *number = llvm::dyn_cast<ast::NumberExpr>(&expr)) {
      out << "Number " << formatNumber(number->getValue(), number->isInteger());
    } else if (const auto *boolean = llvm::dyn_cast<ast::BoolExpr>(&expr)) {
      out << "Bool " << (boolean->getValue() ? "true" : "false");
    } else if (const auto *string = llvm::dyn_cast<ast::StringExpr>(&expr)) {
      out << "String " << quote(string->getValue());
    } else if (const auto *ident = llvm::dyn_cast<ast::IdentExpr>(&expr)) {
      out << "Ident " << ident->getName();
    } else if (const auto *call = llvm::dyn_cast<ast::CallExpr>(&expr)) {
      out << "Call " << call->getCallee() << " " << at(expr.getLoc()) << "\n";
      for (const ast::Argument &arg : call->getArgs()) {
        if (arg.name.empty()) {
          print(*arg.value, indent + 1);
        } else {
          line(indent + 1) << "Arg " << arg.name << " " << at(arg.loc) << "\n";
          print(*arg.value, indent + 2);
        }
      }
      return;
    } else if (const auto *list = llvm::dyn_cast<ast::ListExpr>(&expr)) {
      out << "List " << at(expr.getLoc()) << "\n";
      for (const ast::ExprPtr &element : list->getElements())
        print(*element, indent + 1);
      return;
    } else if (const auto *binary = llvm::dyn_cast<ast::BinaryExpr>(&expr)) {
      out << "Binary " << binary->getOp() << " " << at(expr.getLoc()) << "\n";
      print(binary->getLHS(), indent + 1);
      print(binary->getRHS(), indent + 1);
      return;
    }
    out << " " << at(expr.getLoc()) << "\n";
  }

  static std::string formatNumber(double value, bool isInteger) {
    char buf[64];
    if (isInteger) {
      // Every integral double prints exactly with no fraction digits; a cast to int64_t could overflow.
      std::snprintf(buf, sizeof(buf), "%.0f", value);
      return buf;
    }
    for (int precision = 1; precision <= 17; ++precision) {
      std::snprintf(buf, sizeof(buf), "%.*g", precision, value);
      if (std::strtod(buf, nullptr) == value)
        break;
    }
    std::string text = buf;
    if (text.find_first_of(".eEn") == std::string::npos)
      text += ".0";
    return text;
  }

  static std::string quote(llvm::StringRef value) {
    std::string out = "\"";
    for (char c : value) {
      if (c == '"' || c == '\\') {
        out += '\\';
        out += c;
      } else if (c == '\n') {
        out += "\\n";
      } else if (llvm::isPrint(c)) {
        out += c;
      } else {
        out += "\\x";
        out += llvm::hexdigit(static_cast<unsigned char>(c) >> 4, /*LowerCase=*/false);
        out += llvm::hexdigit(static_cast<unsigned char>(c) & 0xF, /*LowerCase=*/false);
      }
    }
    return out + "\"";
  }

  llvm::raw_ostream &os;
};

} // namespace

void attn::printAST(const ast::Model &model, llvm::raw_ostream &os) { ASTPrinter(os).print(model); }
